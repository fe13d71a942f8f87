"""Job configs are validated on load, with messages that say where the problem is."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from migralink.cli import app
from migralink.config import CONFIGS_DIR, load_config
from migralink.errors import ConfigError


def write_variant(tmp_path: Path, change) -> Path:
    data = yaml.safe_load((CONFIGS_DIR / "demo.yaml").read_text())
    change(data)
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_configs_load() -> None:
    demo = load_config(CONFIGS_DIR / "demo.yaml", workdir="/tmp/x")
    assert set(demo.sources) == {"border", "permits", "social_security", "placements"}
    assert demo.sources["border"].raw_columns()[0] == "id_passage"
    assert load_config(CONFIGS_DIR / "febrl4.yaml").indicators is None


def test_record_id_may_not_be_an_identity_column(tmp_path: Path) -> None:
    path = write_variant(tmp_path, lambda d: d["sources"]["permits"].update(record_id="permit_no"))
    with pytest.raises(ConfigError, match="record_id 'permit_no' is an identity column"):
        load_config(path)


def test_event_field_may_not_read_an_identity_column(tmp_path: Path) -> None:
    path = write_variant(tmp_path,
                         lambda d: d["sources"]["border"]["events"].update(border_post="nom"))
    with pytest.raises(ConfigError, match="event field 'border_post' reads identity column"):
        load_config(path)


def test_date_formats_are_checked_on_load(tmp_path: Path) -> None:
    def change(d: dict) -> None:
        d["sources"]["border"]["events"]["date"]["formats"] = ["%d/%m/%y"]

    with pytest.raises(ConfigError) as caught:
        load_config(write_variant(tmp_path, change))
    assert "sources.border.events.date" in str(caught.value)
    assert "'%d/%m/%y' must use %Y" in str(caught.value)


def test_every_typo_is_named(tmp_path: Path) -> None:
    def change(d: dict) -> None:
        d["sources"]["border"]["recordid"] = d["sources"]["border"].pop("record_id")

    with pytest.raises(ConfigError) as caught:
        load_config(write_variant(tmp_path, change))
    message = str(caught.value)
    assert "sources.border.record_id: Field required" in message
    assert "sources.border.recordid: Extra inputs are not permitted" in message


def test_yaml_error_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("sources:\n  a: [1, 2\n  b: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML at line \d+") as caught:
        load_config(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("args", [
    ["link", "--config", "configs"],                        # a directory
    ["link", "--config", "no/such.yaml"],
    ["pseudonymise", "--config", "configs/demo.yaml", "--source", "nope"],
])
def test_cli_errors_are_one_line(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("error: ")


def test_validation_limits_are_data(tmp_path: Path) -> None:
    def change(d: dict) -> None:
        d["validation"] = {"max_length": {"given_name": 60},
                           "identity_in_clear": {"share": 0.05, "rows": 3}}

    validation = load_config(write_variant(tmp_path, change)).validation
    assert (validation.max_length.given_name, validation.max_length.document) == (60, 30)
    assert (validation.identity_in_clear.share, validation.identity_in_clear.rows) == (0.05, 3)

    def bad(d: dict) -> None:
        d["validation"] = {"max_length": {"document": 0, "passport": 9}}

    with pytest.raises(ConfigError) as caught:
        load_config(write_variant(tmp_path, bad))
    assert "validation.max_length.document: Input should be greater than or equal to 1" in str(
        caught.value)
    assert "validation.max_length.passport: Extra inputs are not permitted" in str(caught.value)
