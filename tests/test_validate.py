"""Validating a raw extract: rejects with reasons, counts that reconcile, nothing in clear."""

import json
from datetime import date

import polars as pl
from typer.testing import CliRunner

from migralink.cli import app
from migralink.config import MaxLength
from pseudonymise.job import pseudonymise_source
from pseudonymise.read import read_raw
from pseudonymise.validate import parse
from tests.conftest import BORDER_HEADER, write_border

TODAY = date(2026, 1, 1)
GOOD = "B1;03/05/2021;E;CMN-AIR;CNIE;BK123456;EL IDRISSI;MOHAMMED;M;14/05/1970;MAR"


def pseudonymise_border(demo_config, monkeypatch):
    """`migralink pseudonymise --source border` on the demo config, with a fresh key."""
    from pseudonymise.keys import write_key

    monkeypatch.setenv("MIGRALINK_PASSPHRASE", "passphrase")
    write_key(demo_config.at(demo_config.key.file), "passphrase")
    return CliRunner().invoke(app, ["pseudonymise", "--config", "configs/demo.yaml",
                                    "--source", "border", "--workdir", str(demo_config.workdir)])


def test_cli_error_is_one_line(demo_config, monkeypatch) -> None:
    write_border(demo_config, GOOD.rsplit(";", 1)[0],
                 header=BORDER_HEADER.replace(";nationalite", ""))

    result = pseudonymise_border(demo_config, monkeypatch)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "border_crossings.csv" in lines[0] and "nationalite" in lines[0]
    assert "MOHAMMED" not in result.output and "BK123456" not in result.output


def test_birth_date_parts(demo_config) -> None:
    path = write_border(
        demo_config,
        GOOD,
        GOOD.replace("B1;", "B2;").replace("14/05/1970", "00/00/1970"),
        GOOD.replace("B1;", "B3;").replace("14/05/1970", "00/05/1970"),
        GOOD.replace("B1;", "B4;").replace("14/05/1970", "31/02/1970"),  # impossible day
        GOOD.replace("B1;", "B5;").replace("14/05/1970", "01/01/1970"),
    )
    parsed = parse(read_raw(path, demo_config.sources["border"]).rows,
                   demo_config.sources["border"], TODAY)
    parts = parsed.rows.select("record_id", "birth_year", "birth_month", "birth_day").rows()
    assert parts == [("B1", 1970, 5, 14), ("B2", 1970, None, None), ("B3", 1970, 5, None),
                     ("B4", 1970, 2, None), ("B5", 1970, 1, 1)]
    assert parsed.notes == {"birth_date_part_unknown(date_naissance)": 1}
    assert parsed.rejects.height == 0


def test_bad_rows_go_to_rejects_with_reasons(demo_config) -> None:
    path = write_border(
        demo_config,
        GOOD,
        GOOD.replace("B1;03/05/2021", "B2;2021-05-03"),             # unparseable event date
        GOOD.replace("B1;", "B3;").replace("14/05/1970", "1970"),  # unparseable birth date
        GOOD.replace("B1;", "B4;").replace(";E;", ";X;"),          # unknown direction code
        GOOD.replace("B1;", "B5;").replace("14/05/1970", "14/05/2030"),  # born in the future
        GOOD,                                                       # duplicate record id
        "B7;03/05/2021;E;CMN-AIR;;;;;;;",                           # nothing to link on
        GOOD.replace("B1;03/05/2021", "B8;"),                       # missing event date
        GOOD.replace("B1;03/05/2021", "B9;03/05/2030"),             # crossing in the future
        GOOD.replace("B1;", "B10;").replace("MOHAMMED", "MOH\x01AMMED"),  # control character
    )
    parsed = parse(read_raw(path, demo_config.sources["border"]).rows,
                   demo_config.sources["border"], TODAY)
    reasons = dict(parsed.rejects.select("_row", "reasons").rows())
    # the row is the line in the file: the header is line 1
    assert reasons == {
        3: "bad_date(date_passage)",
        4: "bad_date(date_naissance)",
        5: "unknown_code(sens)",
        6: "implausible_date(date_naissance)",
        7: "duplicate_record_id(id_passage)",
        8: "no_identity",
        9: "missing_value(date_passage)",
        10: "implausible_date(date_passage)",
        11: "control_character(prenom)",
    }
    assert parsed.rows["record_id"].to_list() == ["B1"]


def test_manifest_counts_reconcile(demo_config, key) -> None:
    write_border(demo_config, GOOD, GOOD.replace("B1;03/05/2021", "B2;99/99/2021"),
                 GOOD.replace("B1;", "B3;"))
    result = pseudonymise_source(demo_config, "border", key, today=TODAY)
    manifest = json.loads(result.manifest_file.read_text())
    counts = manifest["counts"]
    assert (counts["rows_in"], counts["encoded"], counts["rejected"]) == (3, 2, 1)
    assert counts["reconciles"] is True
    assert counts["reject_reasons"] == {"bad_date(date_passage)": 1}
    assert manifest["key_id"] == key.key_id
    rejects = pl.read_csv(result.rejects_file, infer_schema=False)
    assert rejects["row"].to_list() == ["3"] and rejects["id_passage"].to_list() == ["B2"]
    encoded = pl.read_parquet(result.encoded_file)
    assert encoded.height == 2 and manifest["output"]["rows"] == 2
    assert set(encoded["direction"]) == {"in"}


def test_encoded_extract_has_no_cleartext_identity(demo_config, key) -> None:
    write_border(demo_config, GOOD)
    result = pseudonymise_source(demo_config, "border", key, today=TODAY)
    encoded = pl.read_parquet(result.encoded_file)
    text = " ".join(str(v) for v in encoded.row(0)).lower()
    for value in ("idrissi", "mohammed", "mohamed", "bk123456", "1970-05-14", "14/05/1970"):
        assert value not in text
    assert encoded["birth_year"].to_list() == [1970]
    assert encoded["date"].to_list() == [date(2021, 5, 3)]


def test_future_expiry_is_fine_but_a_future_issue_is_not(demo_config) -> None:
    source = demo_config.sources["permits"]
    path = demo_config.at(source.file)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("permit_record_id,first_name,surname,gender,birth_date,citizenship,permit_no,"
              "passport_no,issue_date,expiry_date,reason")
    path.write_text("\n".join([
        header,
        "R1,Awa,Diop,2,1990-02-03,SEN,P1,A1,2025-06-01,2035-06-01,TRAVAIL",
        "R2,Awa,Diop,2,1990-02-03,SEN,P1,A1,2030-06-01,2031-06-01,TRAVAIL",
    ]) + "\n")
    parsed = parse(read_raw(path, source).rows, source, TODAY)
    assert parsed.rows["record_id"].to_list() == ["R1"]
    assert parsed.rejects.select("_row", "reasons").rows() == [(3, "implausible_date(issue_date)")]


def test_implausibly_long_identity_values_are_rejected(demo_config, key) -> None:
    huge_name = "A" * 5_000_000
    path = write_border(
        demo_config, GOOD,
        GOOD.replace("B1;", "B2;").replace("MOHAMMED", huge_name),
        GOOD.replace("B1;", "B3;").replace("BK123456", "B" * 31),
        GOOD.replace("B1;", "B4;").replace("EL IDRISSI", "É" * 100),  # characters, not bytes
    )
    source = demo_config.sources["border"]
    result = pseudonymise_source(demo_config, "border", key, today=TODAY)
    assert (result.counts.rows_in, result.counts.encoded) == (4, 2)
    assert result.counts.reasons == {"too_long(num_document)": 1,
                                     "too_long(prenom)": 1}
    stricter = demo_config.validation.model_copy(update={
        "max_length": MaxLength(family_name=10)})
    parsed = parse(read_raw(path, source).rows, source, TODAY, stricter)
    assert dict(parsed.rejects.select("_row", "reasons").rows())[5] == "too_long(nom)"


def test_identity_in_a_clear_field_is_rejected(demo_config) -> None:
    path = write_border(
        demo_config, GOOD,
        GOOD.replace("B1;", "MOHAMMED;"),                            # record id = given name
        GOOD.replace("B1;", "B3;").replace("CMN-AIR", "Él Idrissi"),  # accents and case aside
        GOOD.replace("B1;03/05/2021", "B4;14/05/1970"),              # crossing = birth date
        GOOD.replace("B1;", "B5;").replace("CMN-AIR", "bk123456"),   # a document number
        GOOD.replace("B1;", "B6;").replace("CMN-AIR", "EL"),         # a part is no identity
    )
    source = demo_config.sources["border"]
    parsed = parse(read_raw(path, source).rows, source, TODAY)
    assert dict(parsed.rejects.select("_row", "reasons").rows()) == {
        3: "identity_in_clear(id_passage)", 4: "identity_in_clear(poste)",
        5: "identity_in_clear(date_passage)", 6: "identity_in_clear(poste)"}
    assert parsed.rows["record_id"].to_list() == ["B1", "B6"]


def test_a_mapping_that_sends_identities_in_clear_stops_the_job(demo_config, key,
                                                                monkeypatch) -> None:

    write_border(demo_config, GOOD)
    pseudonymise_source(demo_config, "border", key, today=TODAY)
    before = demo_config.encoded_file("border").read_bytes()
    rows = [GOOD.replace("B1;", f"B{i};") for i in range(2, 40)]
    rows += [GOOD.replace("B1;", f"DOC{i};").replace("BK123456", f"DOC{i}")
             for i in range(12)]  # 12 of 50 rows: a mapping mistake, not a coincidence
    write_border(demo_config, *rows)
    result = pseudonymise_border(demo_config, monkeypatch)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "row 40, column 'id_passage': this column holds" in lines[0]
    assert "in 12 of 50 rows" in lines[0] and "DOC" not in lines[0]
    # the extract of the previous run is left whole, next to its manifest; no partial file
    assert demo_config.encoded_file("border").read_bytes() == before
    assert not list(demo_config.encoded_file("border").parent.glob("*.partial"))
