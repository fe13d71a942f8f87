"""The benchmarks at tiny sizes: their figures, their records, and a fair reference encoder."""

import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from benchmarks.bench_encode import (
    BENCH_KEY,
    ReferenceEncoder,
    make_records,
    run_encode_benchmark,
)
from benchmarks.bench_memory import border_rows, run_memory_benchmark
from migralink.cli import app
from migralink.config import RULES_DIR
from pseudonymise.encode import IdentityEncoder
from pseudonymise.normalise import NameRules
from pseudonymise.spec import load_spec

ENCODE_KEYS = {"benchmark", "records", "seconds", "records_per_s", "reference_records",
               "reference_records_per_s", "speedup", "cores"}
MEMORY_KEYS = {"benchmark", "rows", "batch_rows", "seconds", "rows_per_s", "peak_rss_mib",
               "file_mib", "rows_in", "encoded", "rejected"}


@pytest.fixture(scope="module")
def spec_rules():
    return load_spec(RULES_DIR / "encoding.yaml"), NameRules.load()


def edge_records() -> pl.DataFrame:
    """Rows the generator seldom gives: missing and multi-word names, partial dates,
    non-ASCII and punctuated document numbers, an address."""
    rows = make_records(6, seed=5)
    return rows.with_columns(
        given_name=pl.Series([None, "Mohamed Amine", "Ben", "", "ÉLODIE", "ali ben"]),
        family_name=pl.Series(["El Idrissi", None, "Ait Ben Haddou", "Oulad  Ahmed", "x", "omar"]),
        address=pl.Series([None, "12, rue d'Agadir", None, None, None, "Bd Zerktouni 3"]),
        birth_year=pl.Series([1970, None, 1985, 1990, 2001, 1960], dtype=pl.Int32),
        birth_month=pl.Series([None, None, 3, 12, 5, 1], dtype=pl.Int32),
        birth_day=pl.Series([None, None, None, 31, 5, 1], dtype=pl.Int32),
        doc_national_id=pl.Series(["bk 12-345", None, "ＡＢ１２", "é-77", "---", "x1"]),
        doc_permit=pl.Series([None, "P123456789", None, None, None, "p 1"]),
    )


def test_reference_encoder_gives_the_production_encodings(spec_rules) -> None:
    spec, rules = spec_rules
    rows = pl.concat([make_records(1_500, seed=3), edge_records()])
    production = IdentityEncoder(spec, BENCH_KEY, rules).encode(rows)
    reference = ReferenceEncoder(spec, BENCH_KEY, rules)
    encoded = [reference.encode(record) for record in rows.to_dicts()]
    columns = [c for c in production.columns if c.startswith(("bf_", "tok_"))]
    assert set(encoded[0]) == set(columns)
    expected = pl.DataFrame(encoded, schema={c: production.schema[c] for c in columns})
    assert_frame_equal(production.select(columns), expected)
    assert production["tok_national_id"].null_count() < production.height  # not all empty


def test_names_remembered_across_batches_encode_as_if_fresh(spec_rules, monkeypatch) -> None:
    """The job's encoder keeps a table of names across batches (emptied when full): the second
    batch must encode exactly as a fresh encoder would, with the table kept or emptied."""
    spec, rules = spec_rules
    first, second = make_records(400, seed=6), make_records(400, seed=7)
    fresh = IdentityEncoder(spec, BENCH_KEY, rules).encode(second)
    for table_rows in (10**6, 50):
        monkeypatch.setattr("pseudonymise.encode.NAME_TABLE", table_rows)
        encoder = IdentityEncoder(spec, BENCH_KEY, rules)
        encoder.encode(first)
        assert_frame_equal(encoder.encode(second), fresh)
        names = [first, second] if table_rows > 400 else [second]
        expected = pl.concat([r["given_name"] for r in names]).drop_nulls().n_unique()
        assert encoder.name_tables["given_name"].height == expected


def test_records_are_shaped_like_parsed_rows_and_reproducible() -> None:
    rows = make_records(2_000, seed=2)
    assert rows.columns == ["record_id", "given_name", "family_name", "address", "sex",
                            "nationality", "birth_year", "birth_month", "birth_day",
                            "doc_national_id", "doc_passport", "doc_permit", "doc_ssn"]
    assert rows.schema["birth_year"] == pl.Int32
    assert rows["doc_national_id"].n_unique() == rows["doc_passport"].n_unique() == 2_000
    assert rows["given_name"].n_unique() < 1_000  # names repeat
    assert rows["birth_year"].is_between(1950, 2005).all()
    assert 0 < rows["birth_day"].null_count() < 400  # some year-only dates
    assert_frame_equal(rows, make_records(2_000, seed=2))
    later = make_records(10, seed=2, offset=2_000)
    assert later["record_id"][0] == "R0000002001"
    assert not later["doc_passport"].is_in(rows["doc_passport"].implode()).any()


def test_encode_benchmark_reports_its_figures() -> None:
    figures = run_encode_benchmark(300, seed=4)
    assert set(figures) == ENCODE_KEYS
    assert figures["benchmark"] == "encode"
    assert figures["records"] == figures["reference_records"] == 300
    assert figures["seconds"] > 0 and figures["records_per_s"] > 0
    assert figures["reference_records_per_s"] > 0 and figures["speedup"] > 0
    assert figures["cores"] >= 1


def test_bench_encode_command_prints_one_json_line() -> None:
    result = CliRunner().invoke(app, ["bench", "encode", "--records", "200"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert set(json.loads(lines[0])) == ENCODE_KEYS


def test_border_rows_follow_the_demo_format() -> None:
    rows = border_rows(500, seed=1, offset=1_000)
    assert rows["id_passage"][0] == "BP000001001"
    assert rows["date_naissance"].str.contains(r"^\d\d/\d\d/\d{4}$").all()
    assert rows["date_naissance"].str.starts_with("00/00/").any()  # year-only
    assert set(rows["type_document"]) == {"CNIE", "PASSEPORT"}


def test_memory_benchmark_encodes_every_row_in_a_child(tmp_path) -> None:
    figures = run_memory_benchmark(3_000, batch_rows=1_000, workdir=tmp_path)
    assert set(figures) == MEMORY_KEYS
    assert figures["rows"] == figures["rows_in"] == figures["encoded"] == 3_000
    assert figures["rejected"] == 0
    assert figures["peak_rss_mib"] > 0 and figures["file_mib"] > 0
    assert (tmp_path / "encoded" / "border.parquet").exists()
