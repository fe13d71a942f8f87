"""The leak scan by shape (audit.scan_patterns): document numbers, birth dates and names found
with no list of raw values, named by file, table, column and row, never quoted."""

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from migralink.config import RULES_DIR
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
        ("encoded.parquet", "-", "given_name", "identity_column", 1, 3),
        ("encoded.parquet", "-", "given_name", "name", 2, 2),
        ("outputs.duckdb", "born", "day", "birth_date", 2, 1),
        ("outputs.duckdb", "persons", "note", "document_number", 2, 1),
        ("logs/link.log", "-", "line", "document_number", 3, 1),
        ("extract.csv", "-", "born", "birth_date", 2, 2),
        ("model.json", "-", "line", "name", 4, 1),
    ]
    assert_never_quoted(findings, "Mohammed", "Fatima", "AE0652923", "1970-05-14", "JC21454",
                        "30/10/1989", "1989", "Abdelkader")
    assert findings[1].where(tmp_path) == "encoded.parquet, column given_name, row 2"
    assert findings[4].where(tmp_path) == "logs/link.log, line 3"
    assert findings[1].what == "2 rows with a word that is a name of the name tables"


def test_clean_hub_files_give_no_findings(tmp_path: Path) -> None:
    clean = tmp_path / "clean.parquet"
    pl.DataFrame({
        "record_id": ["PL00000001", "RP000000002"],
        "tok_ssn": pl.Series([12884367651230976543, 967650513123456789], dtype=pl.UInt64),
        "bf_given_name_w1": pl.Series([676343022, 2], dtype=pl.UInt64),  # bits, not a number
        "bf_given_name_pop": pl.Series([54, 39], dtype=pl.Int16),
        "dob_placeholder": [True, False],                    # encodings: named, not identities
        "n_records": [3, 672837],
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
    # separators that are no document's: timestamps, decimals, periods, versions
    model = tmp_path / "model.json"
    model.write_text('{"created": "2026-12-03T21:38:51+00:00", "m": 1.23456789, '
                     '"u": 1.234567e-05, "v": "0.1.0", "periods": ["2019-Q1", "Q1-2019", '
                     '"2019-W01"], "post": "NDR-BNI-ANSAR"}\n')
    # JSON keys named like identity fields with no identity under them
    manifest = tmp_path / "border.manifest.json"
    manifest.write_text('{"software": {"name": "migralink"},\n "codes": '
                        '{"birth_date_placeholder": "true when 01-01 or 31-12"},\n'
                        ' "given_name": {"pooled": 0.1}, "surname": null, "passport": "",\n'
                        ' "dob_given_key": ["birth_date", "given_key"], "address": true,\n'
                        ' "encoded_with_notes": {"birth_date_part_unknown(date_of_birth)": 64}}\n')
    assert scan_patterns([clean, counts, run, model, manifest]) == []


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
    kinds: dict[tuple[str, str], set[str]] = {}
    for f in raw:
        kinds.setdefault((Path(f.file).name, f.column), set()).add(f.kind)
    assert {"identity_column", "name", "name_like_text"} <= kinds[("border_crossings.csv", "nom")]
    assert "birth_date" in kinds[("border_crossings.csv", "date_naissance")]
    assert "document_number" in kinds[("border_crossings.csv", "num_document")]
    assert "birth_date" in kinds[("social_security.csv", "date_naiss")]       # yyyymmdd
    assert "document_number" in kinds[("social_security.csv", "num_immatriculation")]
    assert "document_number" in kinds[("residence_permits.csv", "permit_no")]


def names_with(tmp_path: Path, *given: str) -> Path:
    """A copy of rules/names whose given-name table also holds `given`."""
    folder = Path(shutil.copytree(RULES_DIR / "names", tmp_path / "names"))
    with open(folder / "given_names.csv", "a", encoding="utf-8") as table:
        table.writelines(f"{name},{name}\n" for name in given)
    return folder


def test_id_shaped_ids_are_not_read_as_names(tmp_path: Path) -> None:
    """Hex digits spell words: with `bead` and `face` in the name table, ids holding them are
    still ids, the same text in another column is a name, and a name in person_id is found."""
    names = names_with(tmp_path, "bead", "face")
    ids = ["P0bead1face23456", "Pfacebead0123456", "P1234567bead89ab"]
    pl.DataFrame({
        "person_id": [*ids, "Mohamed"],
        "identity_id": ["border:0bead1face234567", "permits:facebead01234567",
                        "placements:1234567bead89abc", "border:0123456789abcdef"],
        "record_id": ["BP000000001", "RP000000002", "D0000000003", "PL00000004"],
        "note": [None, None, None, "P0bead1face23456"],
    }).write_parquet(tmp_path / "persons.parquet")
    findings = scan_patterns([tmp_path / "persons.parquet"], names_dir=names)
    assert [(f.column, f.kind, f.row, f.count) for f in findings] == [
        ("person_id", "name", 4, 1), ("note", "name", 4, 1)]


def test_demo_ids_have_their_shape(tiny_demo: DemoResult) -> None:
    """Every id the demo writes has its column's shape, so none of them is scanned."""
    shapes = LeakRules.load().id_columns
    job = tiny_demo.config.workdir
    with duckdb.connect(str(job / "linkage.duckdb"), read_only=True) as con:
        for column in ("person_id", "identity_id", "record_id"):
            odd = con.execute(f"SELECT count(*) FROM record_links WHERE NOT "
                              f"regexp_full_match({column}, ?)", [shapes[column]]).fetchone()
            assert odd == (0,), column
    model = json.loads((job / "model" / "splink_model.json").read_text())
    assert re.fullmatch(shapes["linker_uid"], model["linker_uid"])


def test_columns_named_like_an_identity_field(tmp_path: Path) -> None:
    pl.DataFrame({
        "sex": ["F", "M", "F"],
        "Surname": [None, "", "X"],                    # any value at all, from row 3
        "Date of birth": [None, "unknown", None],
        "Prénom": ["ab", None, None],
        "num_passeport": [None, None, "—"],
        "border_post": ["TNG-AIR", "RAK-AIR", "TNG-AIR"],
        "tok_given_name_key": [1, 2, 3],                # encodings: tokens, never values
        "given_name_key": [None, None, 7],              # of any type, when not an encoding
        "tok_passport": [None, "AE", None],             # a string in an encoding's column
    }).write_parquet(tmp_path / "persons.parquet")
    (tmp_path / "people.csv").write_text("citizenship;nom\nMAR;\nSEN;x\n")
    findings = scan_patterns([tmp_path / "persons.parquet", tmp_path / "people.csv"])
    assert summary(findings, tmp_path) == [
        ("persons.parquet", "-", "Surname", "identity_column", 3, 1),
        ("persons.parquet", "-", "Date of birth", "identity_column", 2, 1),
        ("persons.parquet", "-", "Prénom", "identity_column", 1, 1),
        ("persons.parquet", "-", "num_passeport", "identity_column", 3, 1),
        ("persons.parquet", "-", "given_name_key", "identity_column", 3, 1),
        ("persons.parquet", "-", "tok_passport", "identity_column", 2, 1),
        ("people.csv", "-", "nom", "identity_column", 3, 1),
    ]
    assert "column named like an identity field" in findings[0].what


def made_up_names(n: int) -> list[str]:
    """Name-shaped words in no name table."""
    return [f"Zq{a}{b}vik" for a in "bcdfghjklmnpqrstvwxz" for b in "aeiou"][:n]


def test_many_distinct_name_shaped_values_are_name_like_text(tmp_path: Path) -> None:
    limit = LeakRules.load().name_like_text.max_distinct
    many = made_up_names(limit + 1)
    pl.DataFrame({
        "remark": ["AIR", *many, "ok"],                     # codes and short words don't count
        "border_post": ["TNG-AIR", *(["BENI-ENSAR"] * (limit + 1)), "RAK-AIR"],
    }).write_parquet(tmp_path / "events.parquet")
    pl.DataFrame({"remark": made_up_names(limit)}).write_parquet(tmp_path / "fewer.parquet")
    (tmp_path / "notes.log").write_text("\n".join(many) + "\n")     # lines of text: not columns
    findings = scan_patterns([tmp_path / "events.parquet", tmp_path / "fewer.parquet",
                              tmp_path / "notes.log"])
    assert summary(findings, tmp_path) == [
        ("events.parquet", "-", "remark", "name_like_text", 2, limit + 1)]
    assert findings[0].distinct == limit + 1
    assert f"{limit + 1} distinct values shaped like names" in findings[0].what
    assert_never_quoted(findings, *many)


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".html", ".md", ".log", ".txt"])
def test_text_files_of_every_kind_are_scanned(tmp_path: Path, suffix: str) -> None:
    text = tmp_path / f"report{suffix}"
    text.write_text('<p>{"persons": 17725,\n "note": "passport AE0652923 for Abdelkader"}</p>\n'
                    "born 1970-05-14\n")
    findings = scan_patterns([text])
    assert [(f.column, f.kind, f.row) for f in findings] == [
        ("line", "document_number", 2), ("line", "birth_date", 3), ("line", "name", 2)]
    assert_never_quoted(findings, "AE0652923", "Abdelkader", "1970-05-14")


def test_every_duckdb_schema_is_scanned(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.duckdb"
    with duckdb.connect(str(outputs)) as con:
        con.execute("CREATE SCHEMA scratch")
        con.execute("CREATE TABLE scratch.kept AS SELECT 'Fatima' AS who")
    assert [(f.table, f.column, f.kind) for f in scan_patterns([outputs])] == [
        ("scratch.kept", "who", "name")]


def test_damaged_parquet_file_is_unreadable(tmp_path: Path) -> None:
    table = tmp_path / "persons.parquet"
    pl.DataFrame({"sex": ["F", "M"]}).write_parquet(table)
    table.write_bytes(table.read_bytes()[:-12])
    assert [(f.kind, f.where(tmp_path)) for f in scan_patterns([table])] == [
        ("unreadable", "persons.parquet")]


def test_ids_in_json_text_are_left_out_by_key(tmp_path: Path) -> None:
    """splink's random linker_uid (8 letters and digits) can look like a document number; under
    its key it is an id, anywhere else the same text is a document."""
    model = tmp_path / "splink_model.json"
    model.write_text('{\n  "linker_uid": "dvn12345",\n  "sql_dialect": "duckdb",\n'
                     '  "note": "dvn12345"\n}\n')
    runs = tmp_path / "runs.jsonl"
    runs.write_text('{"person_id": "P0bead1face23456", "linker_uid": "ab123456"}\n'
                    '{"person_id": "AB123456", "linker_uid": "not an id, Fatima"}\n')
    findings = scan_patterns([model, runs])
    assert summary(findings, tmp_path) == [
        ("splink_model.json", "-", "line", "document_number", 4, 1),
        ("runs.jsonl", "-", "line", "document_number", 2, 1),
        ("runs.jsonl", "-", "line", "name", 2, 1)]


def test_integer_columns_are_read_for_all_digit_shapes(tmp_path: Path) -> None:
    """Social-security numbers and yyyymmdd birth dates stored as integers are found; keyed
    tokens (64-bit), counts, years and Bloom-filter words are not."""
    pl.DataFrame({
        "ref": pl.Series([None, 676343022, -967650513], dtype=pl.Int64),
        "born": pl.Series([20190104, 19700514, 19591231], dtype=pl.UInt32),
        "tok_ssn": pl.Series([12884367651230976543, 9676505131234567890, 42], dtype=pl.UInt64),
        "bf_given_name_w1": pl.Series([676343022, 19700514, 3], dtype=pl.UInt64),
        "persons": [672837, 17, 12345678],
        "year": [2019, 1970, 2025],
    }).write_parquet(tmp_path / "persons.parquet")
    findings = scan_patterns([tmp_path / "persons.parquet"])
    assert summary(findings, tmp_path) == [
        ("persons.parquet", "-", "ref", "document_number", 2, 2),
        ("persons.parquet", "-", "born", "birth_date", 2, 2),
    ]


def test_integer_shapes_fit_in_max_digits() -> None:
    """Values longer than max_digits are not read: every integer shape must fit in it."""
    import re._parser as sre  # the widths of a regular expression, for the check only

    rules = LeakRules.load()
    for shape in rules.integer_documents() + rules.integer_dates():
        assert sre.parse(shape.regex).getwidth()[1] <= rules.integer_columns.max_digits


def test_documents_written_with_separators(tmp_path: Path) -> None:
    """As producers normalise them (separators out), but a date or a decimal stays whole."""
    log = tmp_path / "link.log"
    log.write_text("retry N-661045\nrecord AB-123.456 skipped\nssn 123/456/789\n"
                   "m = 1.23456789 at 2026-12-03T21:38:51, born 1970-0514\n"
                   "in 2019-Q1, 12.345.678 records, 1.234567e-05\n")
    extract = tmp_path / "notes.parquet"
    pl.DataFrame({"note": ["ok", "passport AE-065.2923", "2019-01-04"]}).write_parquet(extract)
    findings = scan_patterns([log, extract])
    assert [(f.column, f.kind, f.row, f.count) for f in findings] == [
        ("line", "document_number", 1, 3), ("note", "document_number", 2, 1)]
    assert_never_quoted(findings, "661045", "AE-065.2923", "123/456/789")


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_keys_named_like_identity_fields(tmp_path: Path, suffix: str) -> None:
    """A value under a key named like an identity field is a leak whatever it looks like
    (`Zqbavik` is in no name table); empty values, objects and the hub's own keys are not."""
    text = tmp_path / f"people{suffix}"
    text.write_text('{"person_id": "P2747c8535bbf41b", "first_name": "Zqbavik"}\n'
                    '{"surname": null, "Passport": "", "given_name": {"pooled": 0.1}}\n'
                    '{"software": {"name": "migralink"}, "linker_uid": "dvn12345"}\n'
                    '{"pr\\u00e9nom": "Zqcevik", "n": 2, "surname": 12}\n'
                    '{"first_name": "Zqbavik", "surname": " "}\n')
    findings = scan_patterns([text])
    assert [(f.where(tmp_path), f.count) for f in findings] == [
        (f"people{suffix}, line 1, key first_name", 2),
        (f"people{suffix}, line 4, key prénom", 1),
        (f"people{suffix}, line 4, key surname", 1)]
    assert findings[0].what == "2 lines with a value under a JSON key named like an identity field"
    assert_never_quoted(findings, "Zqbavik", "Zqcevik")
