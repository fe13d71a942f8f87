"""Reading raw extracts: a corpus of malformed files, each with its documented outcome.

A file that cannot be read as mapped stops with one error naming the file, line and column
(never a value from the file); any other broken line becomes a reject with its reason, and
every data line is either encoded or rejected.
"""

import shutil
from pathlib import Path

import polars as pl
import pytest

from migralink.errors import InputError
from pseudonymise.job import pseudonymise_source
from pseudonymise.read import read_raw

CORPUS = Path(__file__).parent / "data" / "malformed"

# file -> (error message fragment, line) for files that cannot be read at all
STOPS = {
    "missing_column.csv": ("mapped column is missing from the header", "'nationalite'"),
    "empty.csv": ("file is empty", None),
    "no_header.csv": ("line 1 is not a header", "row 1"),
    "wrong_separator.csv": ("line 1 is not a header", "separator ';'"),
    "duplicate_header.csv": ("column appears twice in the header", "'nom'"),
}
# file -> (lines in, lines encoded, {line: reasons}) for files read line by line
REJECTS = {
    "extra_field.csv": (2, 1, {3: "wrong_field_count(12 of 11)"}),
    "truncated_last_line.csv": (2, 1, {3: "wrong_field_count(8 of 11)"}),
    "unbalanced_quote.csv": (2, 1, {2: "malformed_quotes"}),
    "control_character.csv": (2, 1, {3: "control_character(prenom)"}),
    "duplicate_record_id.csv": (2, 1, {3: "duplicate_record_id(id_passage)"}),
    "absurd_birth_date.csv": (3, 1, {3: "implausible_date(date_naissance)",
                                     4: "implausible_date(date_naissance)"}),
    "unparseable_date.csv": (2, 1, {3: "bad_date(date_passage)"}),
    "unknown_code.csv": (2, 1, {3: "unknown_code(sexe)"}),
    "header_only.csv": (0, 0, {}),
    "latin1.csv": (2, 2, {}),
    "utf8_bom_crlf.csv": (1, 1, {}),
}
IDENTITY_VALUES = ["idrissi", "mohammed", "bk123456", "14/05/1970", "diop", "fatou", "a1234567"]


def _place(demo_config, name: str) -> Path:
    target = demo_config.at(demo_config.sources["border"].file)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(CORPUS / name, target)
    return target


def test_corpus_is_complete() -> None:
    assert {p.name for p in CORPUS.glob("*.csv")} == set(STOPS) | set(REJECTS)


@pytest.mark.parametrize("name", sorted(STOPS))
def test_unreadable_files_stop_with_a_clear_error(demo_config, name: str) -> None:
    path = _place(demo_config, name)
    with pytest.raises(InputError) as caught:
        read_raw(path, demo_config.sources["border"])
    message = str(caught.value)
    fragment, where = STOPS[name]
    assert message.startswith(str(path)) and fragment in message
    if where:
        assert where in message
    assert "\n" not in message
    assert not any(value in message.lower() for value in IDENTITY_VALUES)


@pytest.mark.parametrize("name", sorted(REJECTS))
def test_bad_lines_are_rejected_and_nothing_is_lost(demo_config, key, name: str) -> None:
    _place(demo_config, name)
    result = pseudonymise_source(demo_config, "border", key)
    rows_in, encoded, reasons = REJECTS[name]
    counts = result.counts
    assert (counts.rows_in, counts.encoded, counts.rejected) == (rows_in, encoded,
                                                                 rows_in - encoded)
    rejects = pl.read_csv(result.rejects_file, infer_schema=False)
    assert {int(r): why for r, why in rejects.select("row", "reasons").rows()} == reasons
    assert result.rejects_file.stat().st_mode & 0o077 == 0  # cleartext: owner only


def test_encoding_is_detected_and_recorded(demo_config, key) -> None:
    _place(demo_config, "latin1.csv")
    result = pseudonymise_source(demo_config, "border", key)
    import json

    manifest = json.loads(result.manifest_file.read_text())
    assert manifest["input"]["encoding"] == "cp1252"
    assert manifest["input"]["unmapped_columns"] == []


def test_declared_encoding_that_does_not_fit(demo_config) -> None:
    path = _place(demo_config, "latin1.csv")
    source = demo_config.sources["border"].model_copy(update={"encoding": "utf-8"})
    with pytest.raises(InputError, match=r"row 3: not valid utf-8 text .* set `encoding:`"):
        read_raw(path, source)


def test_empty_fields_are_missing_values(demo_config) -> None:
    path = demo_config.at(demo_config.sources["border"].file)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (CORPUS / "duplicate_record_id.csv").read_text().splitlines()[0]
    path.write_text(f"{header}\nB1;03/05/2021;E; ;CNIE;BK1;IDRISSI;ALI;M;14/05/1970;\n")
    rows = read_raw(path, demo_config.sources["border"]).rows
    assert rows.row(0, named=True)["nationalite"] is None
    assert rows.row(0, named=True)["poste"] is None
    assert rows.row(0, named=True)["nom"] == "IDRISSI"


def test_batches_give_the_same_result_as_one_pass(demo_config, key) -> None:
    """A file read 2 lines at a time: duplicates across batches, rows and rejects in order."""
    lines = (CORPUS / "duplicate_record_id.csv").read_text().splitlines()
    header, good = lines[0], lines[1]
    body = [good.replace("B1;", f"B{i};") for i in range(1, 8)] + [good]  # B1 again, line 9
    body.insert(3, good.replace("B1;", "B99;") + ";extra")                # line 5
    path = demo_config.at(demo_config.sources["border"].file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *body]) + "\n")
    whole = pseudonymise_source(demo_config, "border", key)
    whole_rejects = whole.rejects_file.read_text()
    whole_encoded = pl.read_parquet(whole.encoded_file)
    batched = pseudonymise_source(demo_config, "border", key, batch_rows=2)
    assert batched.counts == whole.counts
    assert (batched.counts.rows_in, batched.counts.encoded) == (9, 7)
    assert batched.rejects_file.read_text() == whole_rejects
    rejects = pl.read_csv(batched.rejects_file, infer_schema=False)
    assert rejects.select("row", "reasons").rows() == [
        ("5", "wrong_field_count(12 of 11)"), ("10", "duplicate_record_id(id_passage)")]
    assert pl.read_parquet(batched.encoded_file).equals(whole_encoded)


def test_excel_and_parquet_extracts(demo_config, key) -> None:
    csv_source = demo_config.sources["border"]
    frame = pl.read_csv(CORPUS / "unknown_code.csv", separator=";", infer_schema=False)
    for fmt in ("xlsx", "parquet"):
        path = demo_config.workdir / f"border.{fmt}"
        if fmt == "xlsx":
            frame.write_excel(path)
        else:
            frame.write_parquet(path)
        source = csv_source.model_copy(update={"format": fmt, "file": path})
        config = demo_config.model_copy(update={"sources": {"border": source}})
        result = pseudonymise_source(config, "border", key)
        assert (result.counts.rows_in, result.counts.encoded) == (2, 1)
        rows = {r: why for r, why in pl.read_csv(result.rejects_file, infer_schema=False)
                .select("row", "reasons").rows()}
        # Excel rows are sheet rows (header = row 1); Parquet rows count from 1
        assert rows == {"3" if fmt == "xlsx" else "2": "unknown_code(sexe)"}


def test_separator_can_be_detected(demo_config, key) -> None:
    _place(demo_config, "utf8_bom_crlf.csv")
    source = demo_config.sources["border"].model_copy(update={"separator": "auto"})
    config = demo_config.model_copy(update={"sources": {"border": source}})
    assert pseudonymise_source(config, "border", key).counts.encoded == 1
