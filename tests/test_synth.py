"""The synthetic population and its four raw extracts (benchmarks.synth)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from benchmarks.synth import GROUP_SHARES, synthesise
from benchmarks.synth.extracts import RAW_FILES
from benchmarks.synth.identity import SOURCES, register
from benchmarks.synth.names import fold, variants
from benchmarks.synth.population import build_population, group_counts
from migralink.config import load_config

PERSONS = 500
SEED = 7
CONFIG = load_config(Path(__file__).resolve().parents[1] / "configs" / "demo.yaml")
TRUTH_FILES = ("records.parquet", "persons.parquet", "spells.parquet")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth")
    return out, synthesise(PERSONS, SEED, out)


def read_raw(out: Path, source: str) -> pl.DataFrame:
    """A raw extract read as the contract says: its separator, every column as text."""
    spec = CONFIG.sources[source]
    return pl.read_csv(out / spec.file, separator=spec.separator, infer_schema=False)


def with_person(out: Path, source: str) -> pl.DataFrame:
    records = pl.read_parquet(out / "truth" / "records.parquet").filter(pl.col("source") == source)
    raw = read_raw(out, source)
    return raw.join(records, left_on=CONFIG.sources[source].record_id, right_on="record_id")


def test_same_seed_same_bytes_and_other_seed_differs(demo, tmp_path: Path) -> None:
    out, _ = demo
    synthesise(PERSONS, SEED, tmp_path / "again")
    synthesise(PERSONS, SEED + 1, tmp_path / "other")
    files = [Path("raw") / f for f in RAW_FILES.values()] + [Path("truth") / f for f in TRUTH_FILES]
    for f in files:
        assert (out / f).read_bytes() == (tmp_path / "again" / f).read_bytes(), f
    for f in RAW_FILES.values():
        assert (out / "raw" / f).read_bytes() != (tmp_path / "other" / "raw" / f).read_bytes()


def test_columns_and_separators_follow_the_contract(demo) -> None:
    out, _ = demo
    for name, spec in CONFIG.sources.items():
        header = (out / spec.file).read_text(encoding="utf-8").split("\n", 1)[0]
        assert header.split(spec.separator) == spec.raw_columns(), name


def test_counts_match_files_and_groups(demo) -> None:
    out, counts = demo
    for source in SOURCES:
        assert counts["rows"][source] == read_raw(out, source).height > 0
    assert counts["persons"] == group_counts(PERSONS)
    assert sum(counts["persons"].values()) == PERSONS
    for group, share in GROUP_SHARES.items():
        assert abs(counts["persons"][group] - share * PERSONS) <= 1


def test_every_record_is_in_the_truth_and_vice_versa(demo) -> None:
    out, _ = demo
    records = pl.read_parquet(out / "truth" / "records.parquet")
    persons = pl.read_parquet(out / "truth" / "persons.parquet")
    assert records.schema["person_id"] == pl.Int64
    assert records["record_id"].is_unique().all()
    assert set(records["person_id"].unique()) <= set(persons["person_id"])
    for source in SOURCES:
        ids = read_raw(out, source)[CONFIG.sources[source].record_id]
        assert ids.is_unique().all()
        truth = records.filter(pl.col("source") == source)["record_id"]
        assert set(ids) == set(truth) and len(ids) == len(truth)


def test_dates_codes_and_months_parse(demo) -> None:
    out, _ = demo
    border = read_raw(out, "border")
    assert set(border["sens"]) == {"E", "S"}
    # a few crossing dates are garbled on purpose (ISO order, 31 February): the producer
    # must reject them, so they exist but stay rare
    garbled = border["date_passage"].str.to_date("%d/%m/%Y", strict=False).null_count()
    assert garbled <= 0.002 * border.height
    permits = read_raw(out, "permits")
    assert set(permits["reason"]) <= {"TRAVAIL", "FAMILLE", "ETUDES", "AUTRE"}
    issue = permits["issue_date"].str.to_date("%Y-%m-%d")
    expiry = permits["expiry_date"].str.to_date("%Y-%m-%d")
    years = ((expiry - issue).dt.total_days() / 365.25).round(0)
    assert set(years.cast(pl.Int64)) <= {1, 2, 10}
    ss = read_raw(out, "social_security")
    days = ss["jours_declares"].cast(pl.Int64)
    assert days.min() >= 1 and days.max() <= 31
    assert ss["mois"].str.to_date("%Y%m").null_count() == 0
    assert set(ss["tranche_salaire"]) <= {f"B{k}" for k in range(1, 7)}
    assert ss["num_immatriculation"].str.contains(r"^\d{9}$").all()
    placements = read_raw(out, "placements")
    assert placements["start_date"].str.to_date("%d-%m-%Y").null_count() == 0
    assert set(placements["isco"]) <= set("123456789")


def test_crossings_follow_spells(demo) -> None:
    """Where no crossing went unrecorded, crossings are exactly the spell changes."""
    out, _ = demo
    spells = pl.read_parquet(out / "truth" / "spells.parquet").sort("person_id", "start")
    assert (spells.group_by("person_id").agg(pl.col("end").is_null().sum())["end"] == 1).all()
    entering = pl.when(pl.col("place") == "in").then(pl.lit("E")).otherwise(pl.lit("S"))
    changes = (spells.filter(pl.col("start") > pl.col("start").min().over("person_id"))
               .select("person_id", date=pl.col("start"), sens=entering))
    crossings = with_person(out, "border").select(
        "person_id", date=pl.col("date_passage").str.to_date("%d/%m/%Y", strict=False),
        sens="sens").drop_nulls("date")
    expected = changes.group_by("person_id").agg(pl.col("date", "sens").sort_by("date"))
    seen = crossings.group_by("person_id").agg(pl.col("date", "sens").sort_by("date"))
    both = expected.join(seen, on="person_id", how="full", suffix="_seen", coalesce=True)
    complete = both.filter(pl.col("date").list.len() == pl.col("date_seen").list.len())
    assert complete.height >= 0.9 * both.height
    assert (complete["date"] == complete["date_seen"]).all()
    assert (complete["sens"] == complete["sens_seen"]).all()
    assert 0.95 < crossings.height / changes.height < 0.995  # ~2% unrecorded


def _present(events: pl.DataFrame, spells: pl.DataFrame) -> int:
    """How many events (person_id, lo, hi) overlap some 'in' spell of their person."""
    inside = spells.filter(pl.col("place") == "in")
    hits = (events.with_row_index("row").join(inside, on="person_id")
            .filter((pl.col("start") <= pl.col("hi"))
                    & (pl.col("end").is_null() | (pl.col("end") >= pl.col("lo")))))
    return hits["row"].n_unique()


def test_declarations_and_permits_only_while_present(demo) -> None:
    out, _ = demo
    spells = pl.read_parquet(out / "truth" / "spells.parquet")
    month = with_person(out, "social_security").select(
        "person_id", lo=pl.col("mois").str.to_date("%Y%m"))
    month = month.with_columns(hi=pl.col("lo").dt.month_end())
    assert month.height > 0 and _present(month, spells) == month.height
    issue = with_person(out, "permits").select(
        "person_id", lo=pl.col("issue_date").str.to_date("%Y-%m-%d"))
    issue = issue.with_columns(hi="lo")
    assert _present(issue, spells) == issue.height


def test_exempt_nationalities_have_no_hiring_approval(demo) -> None:
    out, _ = demo
    persons = pl.read_parquet(out / "truth" / "persons.parquet")
    hiring = with_person(out, "placements").filter(pl.col("programme") == "HIRING_FOREIGN")
    hired = persons.join(hiring.select("person_id").unique(), on="person_id")
    assert hired.height > 0
    assert set(hired["group"]) == {"foreign_worker"}
    assert not set(hired["nationality"]) & {"DZA", "SEN", "TUN"}
    assert (hiring["destination"] == "MAR").all()


def test_programmes_and_seasonal_workers(demo) -> None:
    out, _ = demo
    persons = pl.read_parquet(out / "truth" / "persons.parquet")
    placed = with_person(out, "placements").join(persons, on="person_id")
    seasonal = placed.filter(pl.col("programme") == "SEASONAL_AGRI_ESP")
    assert seasonal.height > 0 and (seasonal["destination"] == "ESP").all()
    assert (seasonal["sex_right"] == "F").mean() > 0.7
    assert set(placed["programme"]) <= {"SEASONAL_AGRI_ESP", "REGULAR_FRA", "REGULAR_ESP",
                                        "REGULAR_DEU", "GULF_QAT", "GULF_SAU", "HIRING_FOREIGN"}


def test_document_numbers_are_unique_per_person() -> None:
    pop = build_population(3000, np.random.default_rng(1))
    owner: dict[str, int] = {}
    d = pop.docs
    for i in range(len(pop)):
        for number in (d.cnie[i], *d.passport[i], *d.permit[i], d.ssn[i]):
            if number:
                assert owner.setdefault(number, i) == i, number
    assert re.fullmatch(r"[A-Z]{1,2}\d{5,8}", d.cnie[int(np.flatnonzero(pop.national)[0])])


def test_name_noise_rate_and_variants() -> None:
    pop = build_population(3000, np.random.default_rng(2))
    for source in SOURCES:
        reg = register(pop, source, pop.person_id, np.random.default_rng(3))
        differs = [
            (fold(g), fold(f)) != (fold(pop.given[i]), fold(pop.family[i]))
            for i, (g, f) in enumerate(zip(reg["given"], reg["family"], strict=True))
        ]
        assert 0.1 < np.mean(differs) < 0.4, source
    assert len(variants("Mohamed", "arabic")) >= 10
    assert "Mhamed" not in variants("Mohamed", "arabic")
    assert {"Al Idrissi", "Elidrissi"} <= set(variants("El Idrissi", "arabic"))
    assert "El Taoussi" in variants("Ettaoussi", "arabic")
    assert "Abdul Qadir" in variants("Abdelkader", "arabic")
    border = register(pop, "border", pop.person_id, np.random.default_rng(4))
    assert (border["given"] == border["given"].str.to_uppercase()).all()


YEAR_ONLY_FORMS = {
    "border": ("date_naissance", r"(00/00|01/01|31/12)/{y}"),
    "permits": ("birth_date", r"{y}-(00-00|01-01|12-31)"),
    "social_security": ("date_naiss", r"{y}(0000|0101|1231)"),
    "placements": ("dob", r"(00-00|01-01|31-12)-{y}"),
}


def test_year_only_birth_dates_use_agency_conventions(demo) -> None:
    out, _ = demo
    persons = pl.read_parquet(out / "truth" / "persons.parquet")
    year_only = persons.filter("year_only_birth_date")
    assert year_only.height > 0
    assert (year_only["birth_year"] < 1975).all()
    seen = 0
    for source, (column, form) in YEAR_ONLY_FORMS.items():
        rows = with_person(out, source).join(year_only, on="person_id")
        for text, year in zip(rows[column], rows["birth_year"], strict=True):
            assert re.fullmatch(form.format(y=year), text), (source, text, year)
        seen += rows.height
    assert seen > 0


def test_real_birth_dates_mostly_parse(demo) -> None:
    out, _ = demo
    persons = pl.read_parquet(out / "truth" / "persons.parquet")
    full = persons.filter(~pl.col("year_only_birth_date"))
    rows = with_person(out, "border").join(full, on="person_id")
    parsed = [datetime.strptime(t, "%d/%m/%Y").year for t in rows["date_naissance"]]
    assert np.mean(np.array(parsed) == rows["birth_year"].to_numpy()) > 0.95
