"""Clerical labels: m from labelled matches, the links checked against the labels, and a
bad labels file refused at its line and column."""

import re
from pathlib import Path

import duckdb
import polars as pl
import pytest

from linkage.job import run_link
from migralink.demo import run_demo
from migralink.errors import LinkageError


@pytest.fixture(scope="module")
def febrl(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - DemoResult
    return run_demo(tmp_path_factory.mktemp("febrl_labels"), dataset="febrl4")


def true_pairs(out: Path) -> pl.DataFrame:
    """Record pairs of FEBRL4's truth: the a and b record of one person."""
    truth = pl.read_parquet(out / "truth" / "records.parquet")
    a = truth.filter(pl.col("source") == "febrl_a").rename({"record_id": "record_id_l"})
    b = truth.filter(pl.col("source") == "febrl_b").rename({"record_id": "record_id_r"})
    return a.join(b, on="person_id").select(
        pl.lit("febrl_a").alias("source_l"), "record_id_l", pl.lit("febrl_b").alias("source_r"),
        "record_id_r")


def write_labels(out: Path, matches: int, non_matches: int) -> Path:
    pairs = true_pairs(out)
    labelled = pairs.head(matches).with_columns(is_match=pl.lit(1))
    # pair each a record with the b record of the next person: surely two persons
    shifted = pairs.slice(matches, non_matches).with_columns(
        pl.col("record_id_r").shift(1, fill_value=pairs["record_id_r"][0]), is_match=pl.lit(0))
    path = out / "labels.csv"
    pl.concat([labelled, shifted]).write_csv(path)
    return path


def test_m_from_labels_and_agreement(febrl) -> None:  # noqa: ANN001
    out = febrl.config.workdir
    config = febrl.config.model_copy(update={"labels": Path(write_labels(out, 400, 100).name)})
    result = run_link(config)
    labels = result.quality["labels"]
    assert (labels["pairs"], labels["matches"], labels["non_matches"]) == (500, 400, 100)
    assert labels["rows_same_identity"] == 0
    assert any(line.startswith("labels: 500 labelled pairs (400 matches)")
               for line in result.summary())
    assert labels["matches_linked"] >= 0.99
    assert labels["non_matches_apart"] == 1.0
    # m now comes from the 400 labelled matches: all share a soc_sec_id or nearly so
    model = result.record()
    assert model["counts"]["persons"] >= 5000
    ssn = next(c for c in run_model_json(out)["comparisons"] if c["output_column_name"] == "ssn")
    same = next(lv for lv in ssn["comparison_levels"] if lv["label_for_charts"] == "same")
    shares = labelled_ssn_agreement(result.con)
    assert same["m_probability"] == pytest.approx(shares, abs=1e-6)


def run_model_json(out: Path) -> dict:
    import json

    return json.loads((out / "model" / "splink_model.json").read_text())


def labelled_ssn_agreement(con: duckdb.DuckDBPyConnection) -> float:
    """Share of labelled matches whose ssn tokens are equal, among those with both present:
    what m of the `same` level must be when it comes from the labels."""
    return con.execute("""
        SELECT avg((a.tok_ssn = b.tok_ssn)::INT)
        FROM clerical_labels c JOIN identities a ON a.unique_id = c.unique_id_l
        JOIN identities b ON b.unique_id = c.unique_id_r
        WHERE c.is_match AND a.tok_ssn IS NOT NULL AND b.tok_ssn IS NOT NULL
    """).fetchone()[0]


@pytest.mark.parametrize(("content", "where"), [
    ("source_l,record_id_l,source_r,record_id_r\n", "missing column(s) is_match"),
    ("source_l,record_id_l,source_r,record_id_r,is_match\nfebrl_a,{a},febrl_b,{b},yes\n",
     "line 2, column is_match: 'yes'"),
    ("source_l,record_id_l,source_r,record_id_r,is_match\nfebrl_a,{a},febrl_b,{b},\n",
     "line 2, column is_match: empty"),
    ("source_l,record_id_l,source_r,record_id_r,is_match\n", "no labelled match"),
    ("source_l,record_id_l,source_r,record_id_r,is_match\nfebrl_a,{a},febrl_b,{b},1\n"
     "febrl_b,{b},febrl_a,{a},0\n", "lines 2 and 3 label the same pair"),
    ("source_l,record_id_l,source_r,record_id_r,is_match\nfebrl_a,{a},febrl_b,{b},1\n"
     "febrl_a,nosuch,febrl_b,{b},1\n", "line 3, columns source_l/record_id_l"),
])
def test_bad_labels_file(febrl, content: str, where: str) -> None:  # noqa: ANN001
    out = febrl.config.workdir
    pair = true_pairs(out).row(0, named=True)
    path = out / "bad_labels.csv"
    path.write_text(content.format(a=pair["record_id_l"], b=pair["record_id_r"]))
    with pytest.raises(LinkageError, match=re.escape(f"bad_labels.csv: {where}")):
        run_link(febrl.config.model_copy(update={"labels": Path(path.name)}))
