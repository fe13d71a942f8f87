"""Reading raw extracts: a corpus of malformed files, each with its documented outcome.

A file that cannot be read as mapped stops with one error naming the file, line and column
(never a value from the file); any other broken line becomes a reject with its reason, and
every data line is either encoded or rejected.
"""

import codecs
import json
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
    "mixed_encoding.csv": ("mixed encodings: this line is not UTF-8, but line 2 is UTF-8",
                           "row 3"),
    "utf16.csv": ("the file is UTF-16 text (byte-order mark FF FE)", "declare `encoding: utf-16`"),
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
    "too_long_name.csv": (2, 1, {3: "too_long(prenom)"}),
    "identity_in_clear.csv": (3, 1, {3: "identity_in_clear(poste)",
                                     4: "identity_in_clear(id_passage)"}),
    # a line break inside quotes is not supported: the reader is line-based (documented)
    "quoted_newline.csv": (3, 1, {3: "malformed_quotes", 4: "wrong_field_count(8 of 11)"}),
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


HEADER = (CORPUS / "header_only.csv").read_text()
UTF8_LINE = "B1;03/05/2021;E;CMN-AIR;CNIE;BK123456;LEFÈVRE;HÉLÈNE;F;14/05/1970;FRA\n"
LATIN1_LINE = "B2;04/06/2021;S;TNG-PORT;PASSEPORT;A1234567;DIÖP;FATOU;F;01/01/1980;SEN\n"


def _write_bytes(demo_config, *parts: bytes) -> Path:
    path = demo_config.at(demo_config.sources["border"].file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(parts))
    return path


def test_mixed_encoding_is_refused_whichever_comes_first(demo_config, monkeypatch) -> None:
    monkeypatch.setattr("pseudonymise.read.BLOCK_BYTES", 64)  # the lines in different blocks
    ascii_line = (CORPUS / "header_only.csv").read_text().splitlines()[0]  # filler
    cases = {  # file -> (line not UTF-8, line UTF-8 beyond ASCII)
        (HEADER.encode(), LATIN1_LINE.encode("latin-1"), UTF8_LINE.encode()): (2, 3),
        (HEADER.encode(), (ascii_line + "\n").encode() * 3, UTF8_LINE.encode(),
         LATIN1_LINE.encode("cp1252")): (6, 5),
        (codecs.BOM_UTF8, HEADER.encode(), LATIN1_LINE.encode("latin-1")): (2, 1),
    }
    for parts, (bad, good) in cases.items():
        path = _write_bytes(demo_config, *parts)
        with pytest.raises(InputError) as caught:
            read_raw(path, demo_config.sources["border"])
        message = str(caught.value)
        assert f"row {bad}: mixed encodings" in message and f"but line {good} " in message
        assert ("byte-order mark" in message) == parts[0].startswith(codecs.BOM_UTF8)
        assert "lef" not in message.lower() and "\n" not in message


def test_pure_encodings_are_still_detected(demo_config, key, monkeypatch) -> None:
    monkeypatch.setattr("pseudonymise.read.BLOCK_BYTES", 64)
    source = demo_config.sources["border"]
    for parts, encoding in [((HEADER + UTF8_LINE).encode(), "utf-8-sig"),
                            (codecs.BOM_UTF8 + (HEADER + UTF8_LINE).encode(), "utf-8-sig"),
                            ((HEADER + UTF8_LINE + LATIN1_LINE).encode("cp1252"), "cp1252")]:
        path = _write_bytes(demo_config, parts)
        assert read_raw(path, source).rows["prenom"][0] == "HÉLÈNE"
        result = pseudonymise_source(demo_config, "border", key)
        assert json.loads(result.manifest_file.read_text())["input"]["encoding"] == encoding


def test_undecodable_byte_is_located_across_blocks(demo_config, monkeypatch) -> None:
    monkeypatch.setattr("pseudonymise.read.BLOCK_BYTES", 7)
    path = _write_bytes(demo_config, (HEADER + UTF8_LINE * 3).encode(), b"B9;\xff\n")
    source = demo_config.sources["border"].model_copy(update={"encoding": "utf-8"})
    with pytest.raises(InputError, match=r"row 5: not valid utf-8 text \(near byte "):
        read_raw(path, source)


def test_utf16_and_utf32_need_declaring(demo_config, key) -> None:
    text = HEADER + UTF8_LINE
    source = demo_config.sources["border"]
    for data, refusal in [(text.encode("utf-32"), "the file is UTF-32 text"),
                          (text.encode("utf-16-be"), "looks like UTF-16 or UTF-32 text")]:
        path = _write_bytes(demo_config, data)
        with pytest.raises(InputError, match=refusal):
            read_raw(path, source)
    for data, declared in [(text.encode("utf-16"), "utf-16"), (text.encode("utf-16-be"),
                           "utf-16-be"), (codecs.BOM_UTF16_LE + text.encode("utf-16-le"),
                           "utf-16-le")]:
        _write_bytes(demo_config, data)
        declared_source = source.model_copy(update={"encoding": declared})
        config = demo_config.model_copy(update={"sources": {"border": declared_source}})
        result = pseudonymise_source(config, "border", key)
        assert (result.counts.rows_in, result.counts.encoded) == (1, 1)
        assert json.loads(result.manifest_file.read_text())["input"]["encoding"] == declared


def test_header_only_file_gives_an_empty_extract(demo_config, monkeypatch) -> None:
    from typer.testing import CliRunner

    from migralink.cli import app
    from pseudonymise.keys import write_key

    _place(demo_config, "header_only.csv")
    monkeypatch.setenv("MIGRALINK_PASSPHRASE", "passphrase")
    write_key(demo_config.at(demo_config.key.file), "passphrase")
    result = CliRunner().invoke(app, ["pseudonymise", "--config", "configs/demo.yaml",
                                      "--source", "border", "--workdir",
                                      str(demo_config.workdir)])
    assert result.exit_code == 0 and "warning: border: no row was encoded" in result.output
    manifest = json.loads(demo_config.manifest_file("border").read_text())
    assert manifest["counts"]["rows_in"] == 0 and manifest["counts"]["reconciles"] is True
    assert pl.read_parquet(demo_config.encoded_file("border")).height == 0


def test_a_workbook_mapped_as_csv_is_named(demo_config) -> None:
    path = demo_config.at(demo_config.sources["border"].file)
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.read_csv(CORPUS / "unknown_code.csv", separator=";").write_excel(path)
    with pytest.raises(InputError, match="binary file .* set `format: xlsx`"):
        read_raw(path, demo_config.sources["border"])
