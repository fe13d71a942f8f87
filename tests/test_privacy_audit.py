"""`migralink audit`: a clean job passes; each planted fault fails, naming the right place."""

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from migralink.cli import AUDIT_FAILED, app
from migralink.config import CONFIGS_DIR, load_config
from migralink.demo import demo_key, run_demo
from pseudonymise.audit_report import markdown
from pseudonymise.exposure import N, recovered_share
from pseudonymise.job import pseudonymise_source
from pseudonymise.keys import ProjectKey
from pseudonymise.privacy_audit import (
    HIGH,
    AuditRules,
    DisclosureRules,
    Manifest,
    count_problems,
    disclosure,
    run_audit,
)

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


def raw_ssns(job: Path) -> pl.Series:
    """The social-security numbers of the raw extract, as integers."""
    social = pl.read_csv(job / "raw" / "social_security.csv", separator=";",
                         infer_schema=False)
    return social["num_immatriculation"].cast(pl.Int64).unique(maintain_order=True)


def high_findings(job: Path) -> list:
    return [f for f in run_audit(job).findings if f.severity == HIGH]


def audit_fails(job: Path, *places: str) -> str:
    """Run `migralink audit JOB`: exit status AUDIT_FAILED, and every place named in what it
    prints. Returns the output."""
    result = runner.invoke(app, ["audit", str(job)])
    assert result.exit_code == AUDIT_FAILED, result.output
    assert result.output.startswith("FAIL")
    for place in places:
        assert place in result.output, (place, result.output)
    return result.output


def test_clean_job_passes_and_reports_attack_figures(job: Path) -> None:
    result = runner.invoke(app, ["audit", str(job)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("PASS")
    report = (job / "audit" / "report.md").read_text(encoding="utf-8")
    assert report.index("## Findings") < report.index("## Figures")
    assert report.index("### Sources") < report.index("### Re-identification") < \
        report.index("### Encoding health") < report.index("### Disclosure") < \
        report.index("### Job log")
    assert "name filter as sent" in report and "name filter, hardening off" in report
    assert len(report.splitlines()) < 90  # one page
    assert "Not scanned: `raw/`, `truth/`, `keys/`, `producers/` (producer-side: they stay " \
        "with the producers) and `audit/` (this audit's own report)." in report
    figures = json.loads((job / "audit" / "report.json").read_text())["figures"]
    sources = {r["source"] for r in figures["attack"]}
    assert sources == {"border", "permits", "social_security", "placements"}
    assert figures["log"]["ok"] is True and len(figures["log"]["last_hash"]) == 64
    assert "run.json" in {e["file"] for e in last_log_entry(job)["inputs"]}


def last_log_entry(job: Path) -> dict:
    return json.loads((job / "logs" / "job-log.jsonl").read_text().splitlines()[-1])


def test_cleartext_name_column_is_a_leak(job: Path) -> None:
    persons = job / "outputs" / "persons.parquet"
    frame = pl.read_parquet(persons)
    name = raw_value(job, "nom")
    frame.with_columns(pl.lit(None, pl.String).alias("surname")).with_columns(
        pl.when(pl.int_range(pl.len()) == 2).then(pl.lit(name)).alias("surname")
    ).write_parquet(persons)
    output = audit_fails(job, "outputs/persons.parquet, column surname, row 3")
    leaks = [f for f in high_findings(job) if f.check == "leak"]
    assert any("outputs/persons.parquet" in f.where and "surname" in f.where and "row 3" in
               f.where for f in leaks), leaks
    assert name.lower() not in output.lower()
    assert name.lower() not in (job / "audit" / "report.md").read_text().lower()


def test_social_security_numbers_in_an_integer_column(job: Path) -> None:
    """An Int64 column is read: named like an identity field, it is one whatever it holds;
    named like nothing, its 9-digit numbers are documents."""
    persons = job / "outputs" / "persons.parquet"
    frame = pl.read_parquet(persons)
    ssns = raw_ssns(job).head(frame.height)
    ssns = ssns.extend_constant(None, frame.height - len(ssns))
    frame.with_columns(num_immatriculation=ssns, ref=ssns.shift(1)).write_parquet(persons)
    output = audit_fails(job, "outputs/persons.parquet, column num_immatriculation, row 1",
                         "outputs/persons.parquet, column ref, row 2")
    leaks = {(f.where, f.what.split(" with ")[-1]) for f in high_findings(job)
             if f.check == "leak"}
    assert leaks == {
        ("outputs/persons.parquet, column num_immatriculation, row 1",
         "a value in a column named like an identity field"),
        ("outputs/persons.parquet, column num_immatriculation, row 1", "a document number"),
        ("outputs/persons.parquet, column ref, row 2", "a document number"),
    }, leaks
    assert str(ssns[0]) not in output + (job / "audit" / "report.md").read_text()


def test_raw_names_in_an_unnamed_column_are_name_like_text(job: Path) -> None:
    """Family names, most of them in no name table, in a column whose name says nothing."""
    persons = job / "outputs" / "persons.parquet"
    frame = pl.read_parquet(persons)
    border = pl.read_csv(job / "raw" / "border_crossings.csv", separator=";",
                         infer_schema=False)
    names = border["nom"].drop_nulls().unique(maintain_order=True).head(frame.height)
    frame.with_columns(pl.Series("remark", names).extend_constant(None, frame.height -
                                                                  len(names))
                       ).write_parquet(persons)
    output = audit_fails(job, "outputs/persons.parquet, column remark, row 1")
    assert "name-like text" in output
    shown = set(re.findall(r"\w+", (job / "audit" / "report.md").read_text() + output))
    assert not shown & set(names)


def test_document_number_in_a_log_line_is_a_leak(job: Path) -> None:
    number = raw_value(job, "num_document")
    log = job / "logs" / "link.log"
    log.write_text(f"12:00 loaded border\n12:01 retrying record with document {number}\n")
    output = audit_fails(job, "logs/link.log, line 2")
    findings = [f for f in high_findings(job) if f.check == "leak"]
    assert any(f.where == "logs/link.log, line 2" for f in findings), findings
    assert all(number not in f.what and number not in f.where for f in findings)
    assert number not in output


def test_separated_document_and_identity_keys_in_json_lines(job: Path) -> None:
    number = raw_value(job, "num_document")
    separated = f"{number[:2]}-{number[2:5]}.{number[5:]}"
    events = job / "outputs" / "events.jsonl"
    events.write_text('{"person_id": "P2747c8535bbf41b", "n": 3}\n'
                      f'{{"person_id": "P2747c8535bbf41b", "doc": "{separated}"}}\n'
                      '{"person_id": "Pee5e2d1173c24ac", "surname": "X"}\n')
    output = audit_fails(job, "outputs/events.jsonl, line 2",
                         "outputs/events.jsonl, line 3, key surname")
    assert number not in output and separated not in output


def test_name_in_a_new_hub_file_is_a_leak(job: Path) -> None:
    """Files the hub adds later (an HTML report) are scanned; producers' folders are not."""
    report = job / "report" / "index.html"
    report.parent.mkdir()
    report.write_text("<h1>Stocks</h1>\n<p>largest cell: Abdelkader</p>\n")
    audit_fails(job, "report/index.html, line 2")
    assert not [f for f in high_findings(job) if "raw/" in f.where or "producers/" in f.where]


def test_a_job_directory_under_a_folder_named_audit(clean_job: Path, tmp_path: Path) -> None:
    job = Path(shutil.copytree(clean_job, tmp_path / "audit" / "job"))
    (job / "logs" / "link.log").write_text(f"document {raw_value(job, 'num_document')}\n")
    audit_fails(job, "logs/link.log, line 1")


@pytest.mark.parametrize("where", [0.5, 0.999])  # a data page; the footer (file metadata)
def test_one_altered_byte_in_an_encoded_file(job: Path, where: float) -> None:
    encoded = job / "encoded" / "permits.parquet"
    data = bytearray(encoded.read_bytes())
    data[int(len(data) * where)] ^= 0x01
    encoded.write_bytes(bytes(data))
    audit_fails(job, "manifest: encoded/permits.parquet: SHA-256 differs")
    findings = high_findings(job)
    assert any(f.check == "manifest" and f.where == "encoded/permits.parquet"
               and "SHA-256" in f.what for f in findings), findings


def test_manifest_from_another_key_id(job: Path) -> None:
    config = load_config(CONFIGS_DIR / "demo.yaml", workdir=job)
    other = ProjectKey(b"another-project-secret-32-bytes!")
    pseudonymise_source(config, "placements", other)
    output = audit_fails(job, "manifest: encoded: sources encoded with different key ids",
                         f"placements {other.key_id}")
    mixed = [f for f in high_findings(job) if "different key ids" in f.what]
    assert len(mixed) == 1 and other.key_id in mixed[0].what and "placements" in mixed[0].what
    assert mixed[0].where == "encoded"
    assert "border k1-" in output


def more_rejects(manifest: dict, reason: str | None = None) -> None:
    """Five more rows read and rejected, as a consistent edit would add them."""
    counts = manifest["counts"]
    counts.update(rows_in=counts["rows_in"] + 5, rejected=counts["rejected"] + 5)
    if reason:
        counts["reject_reasons"][reason] = counts["reject_reasons"].get(reason, 0) + 5


@pytest.mark.parametrize(("edit", "what"), [
    (lambda m: m["counts"].update(rows_in=m["counts"]["rows_in"] + 1), "do not reconcile"),
    (more_rejects, "counts do not reconcile: reject reasons account for"),
    (lambda m: m["encoding"].update(spec_sha256="0" * 64), "another encoding spec"),
    (lambda m: m.update(name_rules_sha256="0" * 64), "other name rules"),
    (lambda m: m.update(source="permits"), "made for source permits"),
    (lambda m: m["counts"].pop("encoded"), "not a readable migralink manifest"),
])
def test_edited_manifest(job: Path, edit: Callable[[dict], object], what: str) -> None:
    path = job / "encoded" / "border.manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    audit_fails(job, "manifest: encoded/border.manifest.json: ", what)


def test_a_consistently_edited_manifest_differs_from_its_logged_hash(job: Path) -> None:
    path = job / "encoded" / "border.manifest.json"
    manifest = json.loads(path.read_text())
    more_rejects(manifest, "bad_date(date_passage)")
    path.write_text(json.dumps(manifest, indent=2))
    assert not [f for f in high_findings(job) if f.check == "manifest"]
    audit_fails(job, "trace: encoded/border.manifest.json: changed since the job log recorded "
                     "it (entry 1)")
    assert [f.where for f in high_findings(job)] == ["encoded/border.manifest.json"]


def test_changed_hub_output_differs_from_its_logged_hash(job: Path) -> None:
    persons = job / "outputs" / "persons.parquet"
    pl.read_parquet(persons).head(-1).write_parquet(persons)  # a row dropped
    audit_fails(job, "trace: outputs/persons.parquet: changed since the job log recorded it "
                     "(entry 5)")


def test_files_rewritten_by_a_later_logged_run_and_the_audits_own_are_not_changed(
        job: Path) -> None:
    config = load_config(CONFIGS_DIR / "demo.yaml", workdir=job)
    pseudonymise_source(config, "placements", demo_key(config, seed=11))
    for _ in range(2):  # the second reads the first one's entry, whose report it rewrote
        result = runner.invoke(app, ["audit", str(job)])
        assert result.exit_code == 0, result.output
    assert [e["command"] for e in log_entries(job)][-3:] == ["pseudonymise", "audit", "audit"]


def log_entries(job: Path) -> list[dict]:
    return [json.loads(line) for line in (job / "logs" / "job-log.jsonl").read_text().splitlines()]


def test_one_edited_job_log_entry(job: Path) -> None:
    log = job / "logs" / "job-log.jsonl"
    lines = log.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["counts"]["encoded"] += 1
    lines[1] = json.dumps(entry)
    log.write_text("\n".join(lines) + "\n")
    findings = [f for f in high_findings(job) if f.check == "log"]
    assert [f.where for f in findings] == ["logs/job-log.jsonl, entry 2"]
    broken = log.read_bytes()
    output = audit_fails(job, "log: logs/job-log.jsonl, entry 2: hash chain broken")
    assert log.read_bytes() == broken  # the audit does not continue a broken log
    assert "job log: no entry added" in output
    result = runner.invoke(app, ["audit", "--log", str(log)])
    assert result.exit_code == AUDIT_FAILED and "entry 2" in result.output


def test_missing_job_log_is_a_warning_and_the_audit_does_not_start_one(job: Path) -> None:
    log = job / "logs" / "job-log.jsonl"
    log.unlink()
    result = runner.invoke(app, ["audit", str(job)])
    assert result.exit_code == 0, result.output
    assert not log.exists()
    report = (job / "audit" / "report.md").read_text()
    assert "no job log" in report and "`logs/job-log.jsonl`: missing." in report


@pytest.mark.parametrize("arguments", [[], ["/no/such/job"], ["--log", "/no/such/log.jsonl"]])
def test_bad_usage_exits_2(arguments: list[str]) -> None:
    result = runner.invoke(app, ["audit", *arguments])
    assert result.exit_code == 2 and result.output.startswith("error: "), result.output


def test_each_attack_is_shown_with_its_own_baseline(job: Path) -> None:
    """A token attack over the target beyond its own baseline, which is higher than the name
    filter's: the table shows both in its cell and the warning quotes the same numbers."""
    path = job / "encoded" / "placements.manifest.json"
    manifest = json.loads(path.read_text())
    token = manifest["frequency_attack"]["given_name"]["tok_dob_given_key"]
    token.update(pooled=0.002, within_birth_year=0.05,
                 counts_alone={"pooled": 0.004, "within_birth_year": 0.035})
    path.write_text(json.dumps(manifest))
    audit = run_audit(job)
    report = markdown(audit)
    row = next(line for line in report.splitlines() if line.startswith("| placements | given"))
    assert "| 0.2 % / **5.0 %** (0.4 % / 3.5 %) |" in row
    warning = next(f for f in audit.findings
                   if f.check == "attack" and f.where == "encoded/placements.manifest.json")
    assert "given name of 5.0 % of records within birth years (token: birth date + given key)" \
        ", where record counts alone give 3.5 %" in warning.what


def test_reject_reasons_reconcile_by_hand() -> None:
    def problems(rejected: int, reasons: dict[str, int]) -> list[str]:
        manifest = Manifest.model_validate({
            "source": "x", "key_id": "k1-", "output": {"file": "x.parquet", "sha256": ""},
            "counts": {"rows_in": 10, "encoded": 10 - rejected, "rejected": rejected,
                       "reject_reasons": reasons}})
        return count_problems(manifest)

    assert problems(3, {"bad_date(d)": 3, "no_identity": 2}) == []  # a row has two reasons
    assert problems(0, {}) == []
    assert problems(3, {"bad_date(d)": 2}) == [
        "reject reasons account for 2 rows, fewer than the 3 rejected"]
    assert problems(3, {"bad_date(d)": 4}) == [
        "a reject reason counts more rows than the 3 rejected, or none"]


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
