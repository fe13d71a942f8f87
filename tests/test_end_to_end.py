"""The whole job on a small synthetic population and on FEBRL4, checked against the truth.

Also the privacy guarantee: no name or document number of the raw extracts appears in any
file the hub receives or writes.
"""

import csv
from pathlib import Path

import duckdb
import polars as pl
import pytest
from test_disclosure import protection_problems

from linkage.disclosure import load_disclosure_rules, load_sdmx_rules
from migralink.demo import DemoResult, run_demo
from pseudonymise.audit import hub_side_files, scan

NAME_AND_DOCUMENT_COLUMNS = {
    "border_crossings.csv": (";", ["nom", "prenom", "num_document"]),
    "residence_permits.csv": (",", ["surname", "first_name", "permit_no", "passport_no"]),
    "social_security.csv": (";", ["nom", "prenom", "num_immatriculation", "num_piece"]),
    "placements.csv": (",", ["last_name", "first_name", "doc_number"]),
}


BIRTH_DATE_COLUMNS = {
    "border_crossings.csv": (";", "date_naissance", "%d/%m/%Y"),
    "residence_permits.csv": (",", "birth_date", "%Y-%m-%d"),
    "social_security.csv": (";", "date_naiss", "%Y%m%d"),
    "placements.csv": (",", "dob", "%d-%m-%Y"),
}


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    return run_demo(tmp_path_factory.mktemp("demo"), persons=1500, seed=7)


def raw_identity_values(raw: Path) -> set[str]:
    """Every name and document number of the raw extracts, whole and word by word."""
    values: set[str] = set()
    for file, (separator, columns) in NAME_AND_DOCUMENT_COLUMNS.items():
        frame = pl.read_csv(raw / file, separator=separator, infer_schema=False,
                            columns=columns)
        for column in columns:
            for value in frame[column].drop_nulls().unique().to_list():
                lowered = value.lower().strip()
                values.add(lowered)
                values.update(w for w in lowered.replace("-", " ").split() if len(w) >= 3)
    return values


def raw_birth_dates(raw: Path) -> set[str]:
    """Full birth dates of the raw extracts, as written and in ISO form (how DuckDB shows a
    DATE). Event dates start in 2019, so no birth date of an adult can collide with one."""
    values: set[str] = set()
    for file, (separator, column, fmt) in BIRTH_DATE_COLUMNS.items():
        written = pl.read_csv(raw / file, separator=separator, infer_schema=False,
                              columns=[column])[column].drop_nulls().unique()
        iso = written.str.to_date(fmt, strict=False).drop_nulls().dt.strftime("%Y-%m-%d")
        values.update(written.to_list())
        values.update(iso.to_list())
    return values


def test_small_demo_links_well(small_demo: DemoResult) -> None:
    quality = small_demo.quality
    assert quality["pairs"]["f1"] >= 0.95
    assert quality["pairs"]["precision"] >= 0.95
    assert quality["persons"]["recall"] >= 0.9
    assert quality["indicators"]["cells"] > 0
    for result in small_demo.pseudonymised:
        c = result.counts
        assert c.rows_in == c.encoded + c.rejected > 0


def test_published_tables_pass_disclosure_control(small_demo: DemoResult) -> None:
    """No small cell published, no line with one hidden cell; the files say the same."""
    min_count = load_disclosure_rules().suppression.min_count
    out = small_demo.config.outputs_dir
    with duckdb.connect(str(out / "outputs.duckdb"), read_only=True) as con:
        assert protection_problems(con, min_count) == []
        hidden, cells = con.execute("SELECT count(*) FILTER (value IS NULL), count(*) "
                                    "FROM published_cells").fetchall()[0]
    assert 0 < hidden < cells
    files = sorted((out / "published").glob("*.csv"))
    indicators = set(load_sdmx_rules().indicators)
    assert {f.name.split(".")[0] for f in files} == indicators
    published = 0
    for file in files:
        with file.open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        value = "OBS_VALUE" if file.name.endswith(".sdmx.csv") else "value"
        for row in rows:
            if row[value]:
                published += 1
                assert int(row[value]) >= min_count, (file.name, row)
            else:
                assert row["OBS_STATUS" if value == "OBS_VALUE" else "status"] == "C"
    assert published > 0


def test_garbled_crossing_dates_are_exactly_the_rejects(small_demo: DemoResult) -> None:
    raw = pl.read_csv(small_demo.config.workdir / "raw" / "border_crossings.csv", separator=";",
                      infer_schema=False)
    garbled = raw["date_passage"].str.to_date("%d/%m/%Y", strict=False).null_count()
    border = next(r for r in small_demo.pseudonymised if r.source == "border")
    assert border.counts.rejected == garbled
    assert border.counts.reasons == ({"bad_date(date_passage)": garbled} if garbled else {})
    rejects = pl.read_csv(border.rejects_file, infer_schema=False)
    assert rejects.height == garbled


def test_person_ids_are_random_surrogates(small_demo: DemoResult) -> None:
    con = small_demo.link.con
    ids = [r[0] for r in con.execute("SELECT person_id FROM persons").fetchall()]
    assert len(ids) == len(set(ids))
    assert all(len(i) == 16 and i.startswith("P") for i in ids)


def test_no_cleartext_identity_in_hub_side_files(small_demo: DemoResult) -> None:
    out = small_demo.config.workdir
    forbidden = raw_identity_values(out / "raw") | raw_birth_dates(out / "raw")
    assert len(forbidden) > 1000  # the check is only as good as the values it looks for
    files = hub_side_files(out)
    assert {p.name for p in files} >= {"outputs.duckdb", "linkage.duckdb", "quality.json",
                                       "splink_model.json", "border.parquet",
                                       "border.manifest.json"}
    findings = scan(files, forbidden)
    assert findings == [], "\n".join(str(f) for f in findings)


def test_leak_scan_finds_a_planted_name(small_demo: DemoResult, tmp_path: Path) -> None:
    forbidden = raw_identity_values(small_demo.config.workdir / "raw")
    name = sorted(v for v in forbidden if v.isalpha() and len(v) > 5)[0]
    planted = tmp_path / "planted.csv"
    planted.write_text(f"a,b\n1,x\n2,{name.upper()}\n")
    findings = scan([planted], forbidden)
    assert [(f.column, f.row) for f in findings] == [("column1", 3)]
    birth_date = sorted(v for v in raw_birth_dates(small_demo.config.workdir / "raw")
                        if v.count("-") == 2 and v[4] == "-")[0]
    log = tmp_path / "job.log"
    log.write_text(f"ok\nrejected row: born {birth_date}, see file\n")
    assert [(f.file, f.row) for f in scan([log], {birth_date})] == [(str(log), 2)]


def test_febrl4_benchmark(tmp_path: Path) -> None:
    result = run_demo(tmp_path, dataset="febrl4")
    assert result.quality["pairs"]["true_pairs"] == 5000
    # the linkage issue's bar: at most 9 of the 5,000 true pairs missed, none invented
    assert result.quality["pairs"]["f1"] >= 0.999
    # the run states its threshold and the model's own estimate of precision and recall
    estimated = result.quality["estimated"]
    assert estimated["chosen_by"].startswith("highest expected F1 of 0.5-0.999")
    assert estimated["at_threshold"]["expected_precision"] >= 0.99
