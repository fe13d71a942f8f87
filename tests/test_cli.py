"""The command line: --json summaries, --quiet, one-line errors with hints, --debug, no
terminal codes off a terminal, and the progress callbacks the bars are fed by."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from linkage.job import LINK_STEPS, run_link
from migralink.cli import app
from migralink.config import CONFIGS_DIR, JobConfig, load_config
from migralink.demo import DEMO_PASSPHRASE, demo_key
from migralink.errors import ConfigError
from migralink.progress import Bars, shown
from pseudonymise.job import pseudonymise_source

DEMO = str(CONFIGS_DIR / "demo.yaml")
ESC = "\x1b"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """One small demo, with --json; the later tests link and encode again in its directory."""
    out = tmp_path_factory.mktemp("cli_demo")
    return out, invoke("demo", "--persons", "300", "--seed", "3", "--out", str(out), "--json")


@pytest.fixture
def demo_dir(demo_run: tuple[Path, Result], monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MIGRALINK_PASSPHRASE", DEMO_PASSPHRASE)
    return demo_run[0]


@pytest.fixture
def job(demo_dir: Path) -> JobConfig:
    return load_config(DEMO, workdir=demo_dir)


def test_demo_json_is_one_object_with_the_summary(demo_run: tuple[Path, Result]) -> None:
    out, result = demo_run
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    summary = json.loads(result.stdout)  # one object, nothing else on stdout
    assert set(summary) == {"dataset", "out", "pseudonymise", "link", "truth", "seconds"}
    assert summary["dataset"] == "synth persons=300 seed=3"
    assert list(summary["pseudonymise"]) == ["border", "permits", "social_security", "placements"]
    for source in summary["pseudonymise"].values():
        c = source["counts"]
        assert c["rows_in"] == c["encoded"] + c["rejected"] and c["encoded"] > 0
        assert Path(source["encoded"]).is_file() and Path(source["manifest"]).is_file()
    link = summary["link"]
    assert {"key_id", "counts", "seconds", "quality", "plan", "clustering", "outputs"} <= set(link)
    assert link["counts"]["persons"] > 0
    assert list(link["seconds"]) == [*LINK_STEPS, "against_truth"]
    assert 0 < link["quality"]["expected_precision"] <= 1
    assert str(out / "quality.json") in link["outputs"]
    assert summary["truth"]["pairs"]["f1"] > 0.9
    assert set(summary["seconds"]) == {"data", "pseudonymise", "link", "report", "total"}


def test_link_summary_fits_a_screen_without_terminal_codes(demo_dir: Path) -> None:
    result = invoke("link", "--config", DEMO, "--workdir", str(demo_dir))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert ESC not in result.output
    assert len(lines) <= 24
    assert lines[0].startswith("linked ")
    assert lines[-2].startswith("seconds  load ")
    assert lines[-1].startswith(f"outputs in {demo_dir}: outputs.duckdb")


def test_link_json_and_quiet(demo_dir: Path) -> None:
    quiet = invoke("link", "--config", DEMO, "--workdir", str(demo_dir), "--quiet")
    assert quiet.exit_code == 0 and quiet.output == ""
    plan = invoke("link", "--config", DEMO, "--workdir", str(demo_dir), "--plan", "--json")
    assert plan.exit_code == 0, plan.output
    assert json.loads(plan.stdout)["plan"]["total"] > 0


def test_pseudonymise_json_quiet_and_lines(demo_dir: Path) -> None:
    args = ("pseudonymise", "--config", DEMO, "--workdir", str(demo_dir), "--source", "border")
    data = json.loads(invoke(*args, "--json").stdout)
    assert set(data) == {"source", "counts", "encoded", "manifest", "rejects", "key_id",
                         "warnings"}
    assert data["counts"]["rows_in"] == data["counts"]["encoded"] + data["counts"]["rejected"]
    assert data["key_id"].startswith("k1-")
    quiet = invoke(*args, "-q")
    assert quiet.exit_code == 0 and quiet.output == data["encoded"] + "\n"  # the value alone
    plain = invoke(*args)
    assert plain.stdout.startswith(f"border: {data['counts']['rows_in']:,} rows in")
    assert ESC not in plain.output


def test_run_link_tells_every_step_in_order(job: JobConfig) -> None:
    told: list[tuple[str, float]] = []
    result = run_link(job, on_step=lambda step, seconds: told.append((step, seconds)))
    assert [step for step, _ in told] == list(LINK_STEPS)
    assert dict(told) == result.seconds


def test_pseudonymise_tells_every_batch(job: JobConfig) -> None:
    told: list[tuple[str, int]] = []
    result = pseudonymise_source(job, "permits", demo_key(job, 3), batch_rows=50,
                                 on_batch=lambda source, rows: told.append((source, rows)))
    assert {source for source, _ in told} == {"permits"}
    assert sum(rows for _, rows in told) == result.counts.rows_in
    assert len(told) == -(-result.counts.rows_in // 50)


def test_no_bars_off_a_terminal_or_when_quiet() -> None:
    assert shown(quiet=True) is False
    assert shown(quiet=False) is False  # pytest's stderr is not a terminal
    bars = Bars(show=False)
    assert bars.steps("link", LINK_STEPS) is None and bars.rows("pseudonymise") is None


@pytest.mark.parametrize(("args", "message", "hint"), [
    (["link", "--config", "no/such.yaml"], "no/such.yaml: file not found", "--config takes"),
    (["link", "--config", "configs"], "configs: is a directory", "--config takes"),
    (["pseudonymise", "--config", DEMO, "--source", "nope"], "no source 'nope'",
     "--source is one of border, permits, social_security, placements"),
    (["report", "no/such/dir"], "no/such/dir: no outputs.duckdb", "migralink link"),
    (["query", "no/such/dir", "SELECT 1", "--format", "xml"], "--format xml: not a format",
     "table, csv, json"),
    (["pseudonymise", "--config", DEMO, "--source", "border", "--key", "no.key"],
     "no.key: no key file", "migralink keygen --out no.key"),
])
def test_errors_are_one_line_with_a_hint(args: list[str], message: str, hint: str) -> None:
    for extra in ([], ["--quiet"], ["--json"]):
        result = invoke(*args, *extra)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith("error: ") and message in line, line
        assert "; hint: " in line and hint in line.partition("; hint: ")[2], line


def test_missing_passphrase_has_a_hint(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIGRALINK_PASSPHRASE")
    result = invoke("pseudonymise", "--config", DEMO, "--workdir", str(demo_dir),
                    "--source", "border")
    assert result.exit_code == 2
    assert result.stderr == ("error: no passphrase: the environment variable "
                             "MIGRALINK_PASSPHRASE is not set; hint: set MIGRALINK_PASSPHRASE "
                             "to the key's passphrase, or run the command at a terminal to be "
                             "asked for it\n")


def test_an_unexpected_error_never_shows_its_message(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    def fail(config: JobConfig) -> None:
        raise ValueError("Fatima Zahra 1987-03-02")  # as a third-party message might

    monkeypatch.setattr("linkage.job.plan_link", fail)
    result = invoke("link", "--config", DEMO, "--workdir", str(tmp_path), "--plan")
    assert result.exit_code == 1
    assert result.stderr == ("error: unexpected ValueError; hint: run with --debug for the "
                             "traceback (it may show data values)\n")


@pytest.mark.parametrize("args", [
    ["link", "--config", "no.yaml", "--debug"],
    ["--debug", "link", "--config", "no.yaml"],
])
def test_debug_raises_instead_in_either_position(args: list[str]) -> None:
    result = invoke(*args)
    assert isinstance(result.exception, ConfigError)  # not turned into a line and exit 2
    after = invoke("link", "--config", "no.yaml")  # and the next command is not in debug
    assert after.exit_code == 2 and not isinstance(after.exception, ConfigError)


def test_traceback_only_under_debug() -> None:
    command = [sys.executable, "-m", "migralink.cli", "link", "--config", "no.yaml"]
    plain = subprocess.run(command, capture_output=True, text=True, check=False)
    assert plain.returncode == 2 and plain.stdout == ""
    assert plain.stderr.splitlines() == [
        "error: no.yaml: file not found; hint: --config takes a job config (YAML), such as "
        "configs/demo.yaml"]
    debug = subprocess.run([*command, "--debug"], capture_output=True, text=True, check=False)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "ConfigError" in debug.stderr


def test_audit_refreshes_the_run_reports_privacy_box(demo_dir: Path) -> None:
    report = demo_dir / "report.html"
    assert "not audited yet" in report.read_text(encoding="utf-8")
    result = invoke("audit", str(demo_dir))
    assert result.exit_code == 0, result.output
    assert f"run report: {report} (privacy box updated)" in result.stdout
    page = report.read_text(encoding="utf-8")
    assert "not audited yet" not in page
    assert "<th>Audit</th><td>PASS, " in page
