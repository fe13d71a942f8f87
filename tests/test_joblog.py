"""The job log: entries chain by hash, and verification names the first broken line."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import migralink
from benchmarks.synth import synthesise
from linkage.job import run_link
from migralink.config import CONFIGS_DIR, JobConfig, load_config
from pseudonymise.job import pseudonymise_source
from pseudonymise.joblog import (
    FIRST_PREV,
    JobLogError,
    append_entry,
    entry_hash,
    job_log,
    log_audit,
    logged_outputs,
    verify_log,
)
from pseudonymise.keys import ProjectKey
from pseudonymise.spec import file_sha256


def three_entries(tmp_path: Path) -> Path:
    log = tmp_path / "logs" / "job-log.jsonl"
    data = tmp_path / "data.csv"
    for n in range(3):
        data.write_text(f"run {n}\n")
        append_entry(log, command="pseudonymise", workdir=tmp_path, inputs=[data],
                     outputs=[], key_id="k1-0000000000000000", counts={"rows_in": n})
    return log


def lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def write_lines(log: Path, entries: list[dict]) -> None:
    log.write_text("".join(json.dumps(e) + "\n" for e in entries))


def test_appended_entries_chain_and_verify(tmp_path: Path) -> None:
    log = three_entries(tmp_path)
    entries = lines(log)
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev"] == FIRST_PREV
    assert [e["prev"] for e in entries[1:]] == [e["hash"] for e in entries[:2]]
    assert all(e["hash"] == entry_hash(e) for e in entries)
    first = entries[0]
    assert first["software"] == migralink.__version__
    assert first["inputs"] == [{"file": "data.csv", "sha256": first["inputs"][0]["sha256"]}]
    assert first["time"].endswith("+00:00")
    check = verify_log(log)
    assert (check.entries, check.ok, check.first_broken, check.reason) == (3, True, None, None)
    assert check.last_hash == entries[2]["hash"]


def test_an_edited_entry_is_named(tmp_path: Path) -> None:
    log = three_entries(tmp_path)
    entries = lines(log)
    entries[1]["counts"]["rows_in"] = 99
    write_lines(log, entries)
    check = verify_log(log)
    assert (check.ok, check.first_broken) == (False, 2)
    assert check.reason == "line 2 does not match its hash: the entry was edited"


def test_an_edit_with_a_recomputed_hash_breaks_the_next_entry(tmp_path: Path) -> None:
    log = three_entries(tmp_path)
    entries = lines(log)
    entries[1]["key_id"] = None
    entries[1]["hash"] = entry_hash(entries[1])
    write_lines(log, entries)
    assert verify_log(log).first_broken == 3


def test_a_removed_entry_breaks_the_next_one(tmp_path: Path) -> None:
    log = three_entries(tmp_path)
    write_lines(log, [lines(log)[i] for i in (0, 2)])
    check = verify_log(log)
    assert (check.entries, check.ok, check.first_broken) == (2, False, 2)
    assert "removed, inserted or reordered" in check.reason


def test_reordered_entries_are_found(tmp_path: Path) -> None:
    log = three_entries(tmp_path)
    write_lines(log, [lines(log)[i] for i in (0, 2, 1)])
    assert verify_log(log).first_broken == 2


def test_a_line_that_is_not_json(tmp_path: Path) -> None:
    log = three_entries(tmp_path)
    text = log.read_text().splitlines(keepends=True)
    log.write_text(text[0] + "Benali Mohamed 1970\n" + "".join(text[1:]))
    check = verify_log(log)
    assert (check.entries, check.ok, check.first_broken) == (4, False, 2)
    assert check.reason == "line 2 is not a JSON object"  # never the line's content


def test_an_interrupted_last_line(tmp_path: Path) -> None:
    log = three_entries(tmp_path)
    log.write_bytes(log.read_bytes()[:-20])
    check = verify_log(log)
    assert (check.ok, check.first_broken) == (False, 3)
    with pytest.raises(JobLogError, match="last line is incomplete"):
        append_entry(log, command="audit", workdir=tmp_path, inputs=[], outputs=[],
                     key_id=None, counts={})


def test_an_empty_log_is_ok_and_a_missing_one_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    check = verify_log(empty)
    assert (check.entries, check.ok, check.first_broken, check.last_hash) == (0, True, None, None)
    with pytest.raises(JobLogError, match="missing.jsonl: file not found"):
        verify_log(tmp_path / "missing.jsonl")


def test_paths_outside_the_workdir_are_absolute(tmp_path: Path) -> None:
    data = tmp_path / "elsewhere.csv"
    data.write_text("x\n")
    entry = append_entry(tmp_path / "job" / "log.jsonl", command="link", workdir=tmp_path / "job",
                         inputs=[data], outputs=[], key_id=None, counts={})
    assert entry["inputs"][0]["file"] == data.resolve().as_posix()


def test_an_audit_logs_what_it_read_and_wrote(tmp_path: Path) -> None:
    three_entries(tmp_path)
    (tmp_path / "encoded").mkdir()
    (tmp_path / "encoded" / "border.manifest.json").write_text("{}")
    report = tmp_path / "audit" / "report.md"
    report.parent.mkdir()
    report.write_text("# audit\n")
    high = [SimpleNamespace(severity="high")]
    result = SimpleNamespace(figures={"sources": [{"key_id": "k1-ab"}], "files_scanned": 2},
                             findings=high + [SimpleNamespace(severity="warning")], high=high)
    entry = log_audit(tmp_path, result, [report])
    assert (entry["seq"], entry["command"], entry["key_id"]) == (4, "audit", "k1-ab")
    # every file but the producers' folders, the audit's report and the log itself
    assert [r["file"] for r in entry["inputs"]] == ["data.csv", "encoded/border.manifest.json"]
    assert [r["file"] for r in entry["outputs"]] == ["audit/report.md"]
    assert entry["counts"] == {"high": 1, "warnings": 1, "files_scanned": 2}
    assert verify_log(tmp_path / "logs" / "job-log.jsonl").ok
    log = tmp_path / "logs" / "job-log.jsonl"
    log.write_bytes(log.read_bytes()[:-1])  # a last line the audit cannot chain onto
    assert log_audit(tmp_path, result, [report]) is None


def test_an_audit_does_not_continue_a_broken_log(tmp_path: Path) -> None:
    log = three_entries(tmp_path)
    entries = lines(log)
    entries[1]["counts"]["rows_in"] = 7  # edited: its last line still chains on
    write_lines(log, entries)
    broken = log.read_bytes()
    result = SimpleNamespace(figures={"sources": []}, findings=[], high=[])
    assert log_audit(tmp_path, result, []) is None
    assert log.read_bytes() == broken


def test_logged_outputs_are_those_of_the_latest_entry(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "job-log.jsonl"
    out = tmp_path / "out.parquet"
    for n in range(3):
        out.write_text(f"version {n}\n")
        append_entry(log, command="link", workdir=tmp_path, inputs=[],
                     outputs=[out] if n != 1 else [], key_id=None, counts={})
    assert logged_outputs(log) == {"out.parquet": (3, file_sha256(out))}
    assert logged_outputs(log, entries=2)["out.parquet"][0] == 1


@pytest.fixture(scope="module")
def linked_job(tmp_path_factory: pytest.TempPathFactory) -> JobConfig:
    root = tmp_path_factory.mktemp("job")
    synthesise(300, 11, root)
    config = load_config(CONFIGS_DIR / "demo.yaml", workdir=root)
    for name in config.sources:
        pseudonymise_source(config, name, ProjectKey(b"k" * 32))
    run_link(config)
    return config


def test_a_job_logs_each_run_with_the_hashes_of_its_files(linked_job: JobConfig) -> None:
    log = job_log(linked_job)
    assert log == linked_job.workdir / "logs" / "job-log.jsonl"
    assert verify_log(log).ok
    entries = lines(log)
    assert [e["command"] for e in entries] == ["pseudonymise"] * 4 + ["link"]
    key_id = ProjectKey(b"k" * 32).key_id
    assert {e["key_id"] for e in entries} == {key_id}
    for entry in entries:
        for record in entry["inputs"] + entry["outputs"]:
            assert record["sha256"] == file_sha256(linked_job.workdir / record["file"])
    border = entries[0]
    assert [r["file"] for r in border["inputs"]] == ["raw/border_crossings.csv"]
    assert [r["file"] for r in border["outputs"]] == [
        "encoded/border.parquet", "encoded/border.manifest.json", "producers/border/rejects.csv"]
    assert border["counts"]["rows_in"] == border["counts"]["encoded"] + border["counts"]["rejected"]
    link = entries[-1]
    assert len(link["inputs"]) == 8
    assert {"outputs.duckdb", "linkage.duckdb", "outputs/persons.parquet", "run.json"} <= {
        r["file"] for r in link["outputs"]}
    assert set(link["counts"]) == {"records", "identities", "persons"}
