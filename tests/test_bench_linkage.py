"""The linkage benchmarks at tiny sizes: `bench accuracy` and `bench vs-splink`."""

import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from benchmarks.accuracy import run_accuracy
from benchmarks.evaluate import pair_and_person_metrics
from benchmarks.splink_cleartext import CLEAR_COLUMNS, IDENTITY_FIELDS, cleartext_records
from benchmarks.vs_splink import CLEAR_DIR, pair_metrics, run_vs_splink
from migralink.cli import app
from migralink.config import CONFIGS_DIR, load_config

VS_SPLINK_KEYS = {
    "persons", "records", "identities", "migralink_f1", "migralink_precision",
    "migralink_recall", "splink_f1_default", "splink_f1_best", "splink_best_threshold",
    "migralink_seconds", "splink_seconds", "time_ratio", "migralink_peak_mib",
    "splink_peak_mib", "migralink_encode_seconds", "splink_prep_seconds",
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    workdir = tmp_path_factory.mktemp("vs-splink")
    return run_vs_splink(600, seed=3, workdir=workdir), workdir


def test_vs_splink_figures(tiny: tuple[dict, Path]) -> None:
    figures, _ = tiny
    assert figures.keys() >= VS_SPLINK_KEYS
    assert figures["persons"] == 600
    assert figures["migralink_f1"] > 0.9
    for side in ("splink_f1_default", "splink_f1_best"):
        assert 0 < figures[side] <= 1
    assert figures["splink_f1_best"] >= figures["splink_f1_default"]
    assert figures["splink_best_threshold"] in {float(t) for t in figures["splink_f1_by_threshold"]}
    assert figures["splink_f1_by_threshold"]["0.5"] == figures["splink_f1_default"]
    for key in ("migralink_peak_mib", "splink_peak_mib", "migralink_seconds", "splink_seconds",
                "migralink_encode_seconds", "splink_prep_seconds", "time_ratio"):
        assert figures[key] > 0
    assert json.loads(json.dumps(figures)) == figures  # one JSON line


def test_cleartext_frame_has_one_row_per_distinct_identity(tiny: tuple[dict, Path]) -> None:
    figures, workdir = tiny
    identities = pl.read_parquet(workdir / CLEAR_DIR / "identities.parquet")
    records = pl.read_parquet(workdir / CLEAR_DIR / "records.parquet")
    assert tuple(identities.columns) == CLEAR_COLUMNS
    assert identities["unique_id"].n_unique() == identities.height
    assert identities.select("source_dataset", *IDENTITY_FIELDS).n_unique() == identities.height
    # the same unit as migralink's hub: as many distinct identities, the same records
    assert identities.height == figures["identities"] == figures["splink_identities"]
    assert records.height == figures["records"]
    assert records["identity_id"].is_in(identities["unique_id"].implode()).all()
    counted = records.group_by("identity_id").len()
    joined = identities.join(counted, left_on="unique_id", right_on="identity_id")
    assert (joined["n_records"] == joined["len"]).all()
    # a full birth date only where day and month are known
    assert (identities["birth_date"].is_null() == identities["birth_day"].is_null()).all()


def test_cleartext_values_are_normalised(tmp_path: Path) -> None:
    config = load_config(CONFIGS_DIR / "demo.yaml", workdir=tmp_path)
    raw = config.at(config.sources["border"].file)
    raw.parent.mkdir(parents=True)
    raw.write_text(
        "id_passage;prenom;nom;sexe;date_naissance;nationalite;num_document;type_document;"
        "date_passage;sens;poste\n"
        "BP1;Mohammed;El Idrissi;M;00/00/1970;mar;ab 123-456;CNIE;01/02/2020;E;Tanger\n"
        "BP2;MOHAMED;ELIDRISSI;M;05/03/1970;MAR;X9;PASSEPORT;01/02/2020;S;Tanger\n",
        encoding="utf-8")
    rows = cleartext_records(config, "border")
    assert rows["given_name"].to_list() == ["mohamed", "mohamed"]
    assert rows["family_name"].n_unique() == 1
    assert rows["national_id"].to_list() == ["AB123456", None]
    assert rows["passport"].to_list() == [None, "X9"]
    assert rows["birth_month"].to_list() == [None, 3]
    assert rows["nationality"].to_list() == ["MAR", "MAR"]


def test_numpy_pair_metrics_agree_with_evaluate() -> None:
    rng = np.random.default_rng(1)
    n = 300
    truth = rng.integers(0, 80, n)
    labels = np.where(rng.random(n) < 0.8, truth, rng.integers(0, 120, n))
    con = duckdb.connect()
    con.execute("CREATE TABLE record_links AS SELECT 's' AS source, 'r' || i AS record_id, "
                "'u' || i AS identity_id, CAST(l AS VARCHAR) AS person_id "
                "FROM (SELECT unnest(range(?)) AS i, unnest(?) AS l)", [n, labels.tolist()])
    con.execute("CREATE TABLE truth_records AS SELECT 's' AS source, 'r' || i AS record_id, "
                "CAST(t AS VARCHAR) AS person_id "
                "FROM (SELECT unnest(range(?)) AS i, unnest(?) AS t)", [n, truth.tolist()])
    expected = pair_and_person_metrics(con)["pairs"]
    got = pair_metrics(labels, np.arange(n), truth)
    assert got == {k: expected[k] for k in ("precision", "recall", "f1")}


def test_accuracy_on_febrl4() -> None:
    figures = run_accuracy("febrl4")
    assert figures["dataset"] == "febrl4"
    assert figures["records"] == 10_000
    assert figures["pair_f1"] >= 0.99
    assert figures["persons_precision"] > 0.95 and figures["persons_recall"] > 0.95
    assert figures["encode_seconds"] > 0 and figures["link_seconds"] > 0


def test_bench_accuracy_command_refuses_an_unknown_dataset() -> None:
    result = CliRunner().invoke(app, ["bench", "accuracy", "--dataset", "nope"])
    assert result.exit_code == 2
    assert "--dataset must be one of" in result.output
