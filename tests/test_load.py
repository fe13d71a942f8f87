"""The hub refuses extracts it cannot trust, with a message naming the file."""

import json
import shutil
from pathlib import Path

import pytest

from benchmarks.synth import synthesise
from linkage.job import run_link
from linkage.load import check_extracts
from migralink.config import CONFIGS_DIR, JobConfig, load_config
from migralink.errors import LinkageError
from pseudonymise.job import pseudonymise_source
from pseudonymise.keys import ProjectKey

KEY = ProjectKey(b"k" * 32)


def encoded_job(root: Path, persons: int = 300, key_for: dict | None = None) -> JobConfig:
    synthesise(persons, 11, root)
    config = load_config(CONFIGS_DIR / "demo.yaml", workdir=root)
    for name in config.sources:
        pseudonymise_source(config, name, (key_for or {}).get(name, KEY))
    return config


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> JobConfig:
    return encoded_job(tmp_path_factory.mktemp("job"))


@pytest.fixture
def job(encoded: JobConfig, tmp_path: Path) -> JobConfig:
    """A private copy of the encoded extracts to tamper with."""
    shutil.copytree(encoded.at(encoded.paths.encoded), tmp_path / "encoded")
    return load_config(CONFIGS_DIR / "demo.yaml", workdir=tmp_path)


def test_clean_extracts_pass(job: JobConfig) -> None:
    assert [s.name for s in check_extracts(job)] == list(job.sources)


def test_altered_encoded_file_is_refused(job: JobConfig) -> None:
    path = job.encoded_file("permits")
    with open(path, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(LinkageError, match=r"permits.parquet: SHA-256 differs"):
        check_extracts(job)


def test_manifest_claiming_another_key_is_refused(job: JobConfig) -> None:
    path = job.manifest_file("placements")
    manifest = json.loads(path.read_text())
    manifest["key_id"] = "k1-0000000000000000"
    path.write_text(json.dumps(manifest))
    with pytest.raises(LinkageError, match=r"placements.parquet: encoded with key k1-.*"
                                           r"but its manifest says k1-0000000000000000"):
        check_extracts(job)


def test_extract_in_the_wrong_slot_is_refused(job: JobConfig) -> None:
    for suffix in (".parquet", ".manifest.json"):
        shutil.copy(job.at(job.paths.encoded) / f"social_security{suffix}",
                    job.at(job.paths.encoded) / f"border{suffix}")
    with pytest.raises(LinkageError, match=r"made for source 'social_security' \(employment\), "
                                           r"but the config expects 'border' \(border\)"):
        check_extracts(job)


def test_broken_manifest_is_refused(job: JobConfig) -> None:
    job.manifest_file("border").write_text("{not json")
    with pytest.raises(LinkageError, match="border.manifest.json: not a readable manifest"):
        check_extracts(job)
    job.manifest_file("border").write_text("{}")
    with pytest.raises(LinkageError, match="border.manifest.json: not a migralink manifest"):
        check_extracts(job)


def test_missing_extract_names_the_command(job: JobConfig) -> None:
    job.encoded_file("border").unlink()
    with pytest.raises(LinkageError, match=r"border.parquet: missing; run `migralink "
                                           r"pseudonymise --source border`"):
        check_extracts(job)


def test_mixed_keys_are_refused_naming_each_source(tmp_path: Path) -> None:
    other = ProjectKey(b"o" * 32)
    config = encoded_job(tmp_path, persons=150, key_for={"permits": other})
    with pytest.raises(LinkageError) as caught:
        check_extracts(config)
    message = str(caught.value)
    assert f"permits: {other.key_id}" in message and f"border: {KEY.key_id}" in message


def test_too_little_data_is_explained(tmp_path: Path) -> None:
    config = encoded_job(tmp_path, persons=3)
    with pytest.raises(LinkageError, match="could not be trained on .* distinct identities"):
        run_link(config)
