"""The leak scan by shape (audit.scan_patterns): document numbers, birth dates and names found
with no list of raw values, named by file, table, column and row, never quoted."""

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from migralink.demo import DemoResult, run_demo
from pseudonymise.audit import LeakRules, PatternFinding, hub_side_files, scan_patterns


def summary(findings: list[PatternFinding], root: Path) -> list[tuple]:
    return [(Path(f.file).relative_to(root).as_posix(), f.table, f.column, f.kind, f.row,
             f.count) for f in findings]


def assert_never_quoted(findings: list[PatternFinding], *values: str) -> None:
    for finding in findings:
        shown = f"{finding} {finding.where()} {finding.what} {finding!r}".lower()
        for value in values:
            assert value.lower() not in shown


def test_planted_values_are_found_by_shape(tmp_path: Path) -> None:
    encoded = tmp_path / "encoded.parquet"
    pl.DataFrame({
        "record_id": ["BP000000001", "BP000000002", "BP000000003"],   # ids, not documents
        "sex": ["F", "M", "F"],
        "tok_given_name_key": [1234567890123456789, 42, 7],
        "given_name": ["ENTRY", "Mohammed", "Fatima Zahra"],         # planted cleartext
        "date": [dt.date(2019, 1, 4), dt.date(2021, 5, 1), dt.date(2025, 12, 31)],
    }).write_parquet(encoded)

    outputs = tmp_path / "outputs.duckdb"
    with duckdb.connect(str(outputs)) as con:
        con.execute("CREATE TABLE persons AS SELECT * FROM (VALUES "
                    "('P2747c8535bbf41b', 'MAR', 1970, NULL), "
                    "('Pee5e2d1173c24ac', 'FRA', 1985, 'AE0652923'), "
                    "('P3696181517224ea', 'ESP', 1990, NULL)) "
                    "t(person_id, citizenship, birth_year, note)")
        con.execute("CREATE TABLE stocks AS SELECT DATE '2019-01-01' AS month, 'F' AS sex, 7 AS n")
        con.execute("CREATE TABLE born AS SELECT * FROM (VALUES (DATE '2020-03-01'), "
                    "(DATE '1970-05-14')) t(day)")

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "link.log").write_text("2025-01-02 10:00:00 link started\n\n"
                                   "rejected: document JC21454 unknown, 0.123456789 s\n")
    extract = tmp_path / "extract.csv"
    extract.write_text("id;born;month\nD1;30/10/1989;201901\nD2;00/00/1964;201902\n")
    model = tmp_path / "model.json"
    model.write_text('{\n  "m": 0.000123456789,\n  "created": "2026-12-03T21:38:51+00:00",\n'
                     '  "given": "Abdelkader"\n}\n')

    findings = scan_patterns([encoded, outputs, logs / "link.log", extract, model])
    assert summary(findings, tmp_path) == [
        ("encoded.parquet", "-", "given_name", "name", 2, 2),
        ("outputs.duckdb", "born", "day", "birth_date", 2, 1),
        ("outputs.duckdb", "persons", "note", "document_number", 2, 1),
        ("logs/link.log", "-", "line", "document_number", 3, 1),
        ("extract.csv", "-", "born", "birth_date", 2, 2),
        ("model.json", "-", "line", "name", 4, 1),
    ]
    assert_never_quoted(findings, "Mohammed", "Fatima", "AE0652923", "1970-05-14", "JC21454",
                        "30/10/1989", "1989", "Abdelkader")
    assert findings[0].where(tmp_path) == "encoded.parquet, column given_name, row 2"
    assert findings[0].what == "2 rows with a name"


def test_clean_hub_files_give_no_findings(tmp_path: Path) -> None:
    clean = tmp_path / "clean.parquet"
    pl.DataFrame({
        "record_id": ["PL00000001", "RP000000002"],
        "tok_ssn": [676343022, 967650513],                   # integers are never read
        "nationality": ["MAR", "CIV"],
        "direction": ["ENTRY", "out"],
        "border_post": ["BENI-ENSAR", "NDR-BNI-ANSAR"],
        "programme": ["SEASONAL_AGRI_ESP", "HIRING_FOREIGN"],
        "occupation": ["9", "3"],
        "wage_band": ["B3", "B1"],
        "start_date": [dt.date(2019, 3, 2), dt.date(2025, 6, 30)],
        "at": [dt.datetime(2024, 1, 1, 12), dt.datetime(2019, 1, 1)],
    }).write_parquet(clean)
    counts = tmp_path / "flows.csv"
    counts.write_text("indicator,year,sex,citizenship,persons\n"
                      "inflow_for_work,2019,F,CHN,672837\nseasonal_departures,2025,M,MAR,17\n")
    run = tmp_path / "run.json"
    sha = "67c2919fe765db4a1d51282856cf9aa6c9e9fa999efee5fca4335e0f3944769d"
    run.write_text('{"key_id": "k1-f8ebdd02d2c98b16", "seconds": {"load": 2.56},\n'
                   f' "sha256": "{sha}",\n'
                   ' "identity_id": "social_security:2f1f1fa002e5b039", "month": "2019-01-01"}\n')
    assert scan_patterns([clean, counts, run]) == []


def test_headerless_csv_names_columns_by_position(tmp_path: Path) -> None:
    """A name in the first line is a leak, not a column name; the finding must not quote it."""
    extract = tmp_path / "headerless.csv"
    extract.write_text("Mohamed,AB123456\nFatima,CD654321\n")
    findings = scan_patterns([extract])
    assert [(f.column, f.kind, f.row, f.count) for f in findings] == [
        ("column0", "name", 1, 2), ("column1", "document_number", 1, 2)]
    assert_never_quoted(findings, "Mohamed", "AB123456")


def test_binary_file_is_reported_not_scanned(tmp_path: Path) -> None:
    image = tmp_path / "chart.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    assert [(f.kind, f.where(tmp_path)) for f in scan_patterns([image])] == [
        ("not_scanned", "chart.png")]


def test_birth_year_range_is_configurable(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_text("born 14/05/2015\n")
    assert scan_patterns([log]) == []
    rules = LeakRules.load()
    wider = rules.model_copy(update={"birth_dates": rules.birth_dates.model_copy(
        update={"years": rules.birth_dates.years.model_copy(update={"max": 2018})})})
    assert [(f.kind, f.row) for f in scan_patterns([log], wider)] == [("birth_date", 1)]


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    return run_demo(tmp_path_factory.mktemp("demo"), persons=300, seed=3)


def test_demo_hub_side_files_are_clean_and_raw_extracts_are_not(tiny_demo: DemoResult) -> None:
    job = tiny_demo.config.workdir
    assert scan_patterns(hub_side_files(job)) == []
    raw = scan_patterns(sorted((job / "raw").glob("*.csv")))
    kinds = {(Path(f.file).name, f.column): f.kind for f in raw}
    assert kinds[("border_crossings.csv", "nom")] == "name"
    assert kinds[("border_crossings.csv", "date_naissance")] == "birth_date"
    assert kinds[("border_crossings.csv", "num_document")] == "document_number"
    assert kinds[("social_security.csv", "date_naiss")] == "birth_date"       # yyyymmdd
    assert kinds[("social_security.csv", "num_immatriculation")] == "document_number"
    assert kinds[("residence_permits.csv", "permit_no")] == "document_number"
