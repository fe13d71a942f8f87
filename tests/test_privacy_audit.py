"""`migralink audit`: a clean job passes; each planted fault fails, naming the right place."""

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from migralink.cli import AUDIT_FAILED, app
from migralink.config import CONFIGS_DIR, load_config
from migralink.demo import run_demo
from pseudonymise.exposure import N, recovered_share
from pseudonymise.job import pseudonymise_source
from pseudonymise.keys import ProjectKey
from pseudonymise.privacy_audit import HIGH, AuditRules, DisclosureRules, disclosure, run_audit

runner = CliRunner()


@pytest.fixture(scope="module")
def clean_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("audited")
    run_demo(out, persons=800, seed=11)
    return out


@pytest.fixture
def job(clean_job: Path, tmp_path: Path) -> Path:
    """A copy of the clean job to plant a fault in."""
    return Path(shutil.copytree(clean_job, tmp_path / "job"))


def raw_value(job: Path, column: str) -> str:
    border = pl.read_csv(job / "raw" / "border_crossings.csv", separator=";",
                         infer_schema=False)
    return border[column].drop_nulls()[0]


def high_findings(job: Path) -> list:
    return [f for f in run_audit(job).findings if f.severity == HIGH]


def test_clean_job_passes_and_reports_attack_figures(job: Path) -> None:
    result = runner.invoke(app, ["audit", str(job)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("PASS")
    report = (job / "audit" / "report.md").read_text(encoding="utf-8")
    assert report.index("## Findings") < report.index("## Re-identification")
    assert "hardening off, pooled" in report
    figures = json.loads((job / "audit" / "report.json").read_text())["figures"]
    sources = {r["source"] for r in figures["attack"]}
    assert sources == {"border", "permits", "social_security", "placements"}
    assert figures["log"]["ok"] is True


def test_cleartext_name_column_is_a_leak(job: Path) -> None:
    persons = job / "outputs" / "persons.parquet"
    frame = pl.read_parquet(persons)
    name = raw_value(job, "nom")
    frame.with_columns(pl.lit(None, pl.String).alias("surname")).with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(pl.lit(name)).alias("surname")
    ).write_parquet(persons)
    result = runner.invoke(app, ["audit", str(job)])
    assert result.exit_code == AUDIT_FAILED
    leaks = [f for f in high_findings(job) if f.check == "leak"]
    assert any("outputs/persons.parquet" in f.where and "surname" in f.where and "row 3" in
               f.where for f in leaks), leaks
    assert name.lower() not in result.output.lower()
    assert name.lower() not in (job / "audit" / "report.md").read_text().lower()


def test_document_number_in_a_log_line_is_a_leak(job: Path) -> None:
    number = raw_value(job, "num_document")
    log = job / "logs" / "link.log"
    log.write_text(f"12:00 loaded border\n12:01 retrying record with document {number}\n")
    findings = [f for f in high_findings(job) if f.check == "leak"]
    assert any("logs/link.log" in f.where and "row 2" in f.where for f in findings), findings
    assert all(number not in f.what and number not in f.where for f in findings)


def test_one_altered_byte_in_an_encoded_file(job: Path) -> None:
    encoded = job / "encoded" / "permits.parquet"
    data = bytearray(encoded.read_bytes())
    data[len(data) // 2] ^= 0x01
    encoded.write_bytes(bytes(data))
    findings = high_findings(job)
    assert any(f.check == "manifest" and f.where == "encoded/permits.parquet"
               and "SHA-256" in f.what for f in findings), findings


def test_manifest_from_another_key_id(job: Path) -> None:
    config = load_config(CONFIGS_DIR / "demo.yaml", workdir=job)
    other = ProjectKey(b"another-project-secret-32-bytes!")
    pseudonymise_source(config, "placements", other)
    findings = high_findings(job)
    mixed = [f for f in findings if "different key ids" in f.what]
    assert len(mixed) == 1 and other.key_id in mixed[0].what and "placements" in mixed[0].what


def test_one_edited_job_log_entry(job: Path) -> None:
    log = job / "logs" / "job-log.jsonl"
    lines = log.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["counts"]["encoded"] += 1
    lines[1] = json.dumps(entry)
    log.write_text("\n".join(lines) + "\n")
    findings = [f for f in high_findings(job) if f.check == "log"]
    assert [f.where for f in findings] == ["logs/job-log.jsonl, entry 2"]
    result = runner.invoke(app, ["audit", "--log", str(log)])
    assert result.exit_code == AUDIT_FAILED and "entry 2" in result.output


def test_k_anonymity_by_hand(tmp_path: Path) -> None:
    (tmp_path / "encoded").mkdir()
    pl.DataFrame({"sex": ["M", "M", "M", "F", "F", "F", "F", "F", "F"],
                  "nationality": ["MAR"] * 3 + ["SEN"] + ["MAR"] * 5,
                  "birth_year": [1980] * 3 + [1990] + [1985] * 5}
                 ).write_parquet(tmp_path / "encoded" / "x.parquet")
    from pseudonymise.privacy_audit import Audit

    rows = disclosure(Audit(tmp_path), DisclosureRules(k=5, attributes=["sex", "nationality",
                                                                         "birth_year"]))
    assert rows == [{"table": "encoded/x.parquet", "attributes": ["sex", "nationality",
                                                                  "birth_year"],
                     "classes": 3, "smallest_class": 1, "records": 9,
                     "records_in_classes_under_5": 4}]


def test_recovered_share_by_hand() -> None:
    # encodings e1 (3 records: 2 ali, 1 omar), e2 (2 records: omar), e3 (1: ali)
    counts = pl.DataFrame({"enc": ["e1", "e1", "e2", "e3"], "truth": ["ali", "omar", "omar",
                                                                      "ali"],
                           N: [2, 1, 2, 1]}, schema_overrides={N: pl.UInt32})
    # ranks: e1 (3) -> ali, e2 (2) -> omar, e3 (1) -> beyond the list: 2 + 2 of 6 recovered
    share = recovered_share(counts, ["enc"], "truth", {"ali": 0.6, "omar": 0.4}, [])
    assert share == round(4 / 6, 4)


def test_rules_load() -> None:
    rules = AuditRules.load()
    assert rules.disclosure.k == 5 and rules.attack.target == 0.01
