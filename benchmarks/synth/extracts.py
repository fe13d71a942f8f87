"""The four agencies' raw extracts and the synthetic truth, written to disk.

Column names, separators and formats follow configs/demo.yaml (the contract). Rows are sorted
by event date with a random tie-break so that record order says nothing about persons.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.synth.identity import STYLES, add_record_noise, register
from benchmarks.synth.lives import Events, simulate
from benchmarks.synth.population import GROUPS, Population, build_population
from benchmarks.synth.timeline import (
    MONTH_LEN,
    MONTH_OF_DAY,
    MONTH_START,
    PERIOD_START,
    YEARS,
)

RAW_FILES = {"border": "border_crossings.csv", "permits": "residence_permits.csv",
             "social_security": "social_security.csv", "placements": "placements.csv"}
SEPARATOR = {"border": ";", "permits": ",", "social_security": ";", "placements": ","}
COLUMNS: dict[str, list[str]] = {
    "border": ["id_passage", "prenom", "nom", "sexe", "date_naissance", "nationalite",
               "num_document", "type_document", "date_passage", "sens", "poste"],
    "permits": ["permit_record_id", "first_name", "surname", "gender", "birth_date",
                "citizenship", "permit_no", "passport_no", "issue_date", "expiry_date", "reason"],
    "social_security": ["decl_id", "prenom", "nom", "sexe", "date_naiss", "num_immatriculation",
                        "num_piece", "type_piece", "mois", "jours_declares", "secteur",
                        "tranche_salaire"],
    "placements": ["placement_id", "first_name", "last_name", "sex", "dob", "nationality",
                   "doc_number", "doc_kind", "programme", "destination", "isco", "start_date",
                   "end_date"],
}
# Raw names of the identity fields: given, family, sex, birth date, nationality.
IDENTITY_COLUMNS: dict[str, dict[str, str]] = {
    "border": {"given": "prenom", "family": "nom", "sex": "sexe", "birth": "date_naissance",
               "nationality": "nationalite"},
    "permits": {"given": "first_name", "family": "surname", "sex": "gender",
                "birth": "birth_date", "nationality": "citizenship"},
    "social_security": {"given": "prenom", "family": "nom", "sex": "sexe", "birth": "date_naiss"},
    "placements": {"given": "first_name", "family": "last_name", "sex": "sex", "birth": "dob",
                   "nationality": "nationality"},
}
# Registered document numbers each source draws on (see identity.register).
IDENTITY_DOCS: dict[str, tuple[str, ...]] = {
    "border": ("cnie", "passport0", "passport1"),
    "permits": ("passport0", "passport1", "permit0", "permit1", "permit2"),
    "social_security": ("ssn", "cnie", "permit0", "permit1", "permit2"),
    "placements": ("cnie", "passport0", "passport1"),
}
RECORD_ID = {"border": ("BP", 9), "permits": ("RP", 9), "social_security": ("D", 10),
             "placements": ("PL", 8)}

P_CROSSING_UNRECORDED = 0.02
P_DOC_UNRECORDED = {"border": 0.03, "placements": 0.08}  # per record, at the counter
P_CNIE_AT_BORDER = {"national_diaspora": 0.55, "return_migrant": 0.6}  # others: 0.8
P_BAD_CROSSING_DATE = 0.0005  # keying slips the producer must reject: ISO date, 31 February
P_FUND_UPDATES_PERMIT = 0.5  # the fund records a new permit number when the card changes
DAYS_FULL_MONTH = 26         # the fund's standard declared days for a full month
EPOCH_SHIFT = (PERIOD_START - date(1970, 1, 1)).days


def as_date(column: str) -> pl.Expr:
    """Day numbers to a polars Date."""
    return (pl.col(column) + EPOCH_SHIFT).cast(pl.Int32).cast(pl.Date)


def ids(source: str, n: int, offset: int = 0) -> pl.Series:
    """Opaque sequential record ids: prefix and zero-padded number."""
    prefix, width = RECORD_ID[source]
    numbers = pl.Series(np.arange(offset + 1, offset + n + 1, dtype=np.int64))
    return (prefix + numbers.cast(pl.Utf8).str.zfill(width)).alias("record_id")


def identity(pop: Population, source: str, pids: np.ndarray,
             rng: np.random.Generator) -> pl.DataFrame:
    """Registered identities under the source's raw column names, with the documents it uses."""
    raw = IDENTITY_COLUMNS[source]
    ident = register(pop, source, pids, rng).rename(raw)
    # Keep only what this source writes: joins on millions of rows stay narrow.
    return ident.select("pid", *raw.values(), *IDENTITY_DOCS[source], "upper", "accents")


def with_identity(events: pl.DataFrame, source: str, pop: Population,
                  rng: np.random.Generator) -> pl.DataFrame:
    """Attach each person's registered identity to the source's events."""
    ident = identity(pop, source, events["pid"].to_numpy(), rng)
    return events.join(ident, on="pid", how="left")


def finish(df: pl.DataFrame, source: str, pop: Population, rng: np.random.Generator,
           offset: int = 0, until: int | None = None, on: str = "_day"
           ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Sort by date, number the records, add record noise; return (raw rows, truth rows).
    With `until` (a day number), only rows whose day column `on` is at most `until` are
    returned; they are numbered and noised as in the whole extract, so an extract cut at a
    date holds exactly the whole extract's rows up to that date."""
    df = df.sort(["_day", "_tie"])
    df = df.with_columns(ids(source, df.height, offset).alias(COLUMNS[source][0]))
    df = add_record_noise(df, source, pop, IDENTITY_COLUMNS[source], rng)
    if until is not None:
        df = df.filter(pl.col(on) <= until)
    truth = df.select(pl.lit(source).alias("source"),
                      pl.col(COLUMNS[source][0]).alias("record_id"),
                      pl.col("pid").alias("person_id"))
    return df.select(COLUMNS[source]), truth


def write_csv(df: pl.DataFrame, out: Path | BinaryIO, source: str, header: bool = True) -> None:
    """Write raw rows; missing values are empty fields (nulls, which polars does not quote)."""
    df = df.with_columns(pl.col(pl.Utf8).replace("", None))
    df.write_csv(out, separator=SEPARATOR[source], include_header=header)


def _tie(n: int, rng: np.random.Generator) -> pl.Series:
    return pl.Series("_tie", rng.permutation(n))


def _unrecorded(df: pl.DataFrame, number: str, kind: str, p: float,
                rng: np.random.Generator) -> pl.DataFrame:
    """Blank the document number (and its type) on a share of records."""
    blank = pl.Series(rng.random(df.height) < p) | (pl.col(number) == "")
    return df.with_columns(pl.when(blank).then(pl.lit("")).otherwise(pl.col(c)).alias(c)
                           for c in (number, kind))


def _bad_dates(df: pl.DataFrame, column: str, p: float, rng: np.random.Generator
               ) -> pl.DataFrame:
    """Garble a dd/mm/yyyy date on a share of rows: half in ISO order, half as 31 February."""
    draw = rng.random(df.height)
    iso = pl.col(column).str.replace(r"^(\d\d)/(\d\d)/(\d{4})$", "$3-$2-$1")
    impossible = pl.col(column).str.replace(r"^\d\d/\d\d/", "31/02/")
    return df.with_columns(
        pl.when(pl.Series(draw < p / 2)).then(iso)
        .when(pl.Series(draw < p)).then(impossible)
        .otherwise(pl.col(column)).alias(column))


# --- Sources ---------------------------------------------------------------------------------


def _group_index(pop: Population) -> np.ndarray:
    """Each person's group as an index into GROUPS."""
    lookup = {g: k for k, g in enumerate(GROUPS)}
    return np.array([lookup[g] for g in pop.group.tolist()], dtype=np.int64)


def border(pop: Population, ev: Events, rng: np.random.Generator,
           until: int | None = None) -> tuple[pl.DataFrame, ...]:
    """Border police: one row per recorded crossing, with the document shown."""
    c = pl.DataFrame(ev.crossings.as_dict(), schema={"pid": pl.Int64, "day": pl.Int64,
                                                     "direction": pl.Utf8, "post": pl.Utf8})
    c = c.filter(pl.Series(rng.random(c.height) >= P_CROSSING_UNRECORDED))
    i = c["pid"].to_numpy() - 1
    p_cnie = np.array([P_CNIE_AT_BORDER.get(g, 0.8) for g in GROUPS])[_group_index(pop)[i]]
    cnie = pop.national[i] & (rng.random(c.height) < p_cnie)
    c = c.with_columns(
        _cnie=pl.Series(cnie), _second=pl.Series(c["day"].to_numpy() >= pop.passport_switch[i]),
        _tie=_tie(c.height, rng), _day=pl.col("day"))
    df = with_identity(c, "border", pop, rng)
    df = df.with_columns(
        num_document=pl.when("_cnie").then("cnie").when("_second").then("passport1")
        .otherwise("passport0"),
        type_document=pl.when("_cnie").then(pl.lit("CNIE")).otherwise(pl.lit("PASSEPORT")),
        date_passage=as_date("day").dt.strftime("%d/%m/%Y"),
        sens="direction", poste="post")
    df = _unrecorded(df, "num_document", "type_document", P_DOC_UNRECORDED["border"], rng)
    df = _bad_dates(df, "date_passage", P_BAD_CROSSING_DATE, rng)
    return finish(df, "border", pop, rng, until=until)


def permits(pop: Population, ev: Events, rng: np.random.Generator,
            until: int | None = None) -> tuple[pl.DataFrame, ...]:
    """Interior ministry: one row per permit issue or renewal."""
    p = pl.DataFrame(ev.permits.as_dict(), schema={"pid": pl.Int64, "issue": pl.Int64,
                                                   "expiry": pl.Int64, "reason": pl.Utf8,
                                                   "number": pl.Int64})
    i = p["pid"].to_numpy() - 1
    p = p.with_columns(_second=pl.Series(p["issue"].to_numpy() >= pop.passport_switch[i]),
                       _tie=_tie(p.height, rng), _day=pl.col("issue"))
    df = with_identity(p, "permits", pop, rng)
    df = df.with_columns(
        permit_no=pl.when(pl.col("number") == 0).then("permit0")
        .when(pl.col("number") == 1).then("permit1").otherwise("permit2"),
        passport_no=pl.when("_second").then("passport1").otherwise("passport0"),
        issue_date=as_date("issue").dt.strftime("%Y-%m-%d"),
        expiry_date=as_date("expiry").dt.strftime("%Y-%m-%d"))
    return finish(df, "permits", pop, rng, until=until)


def placements(pop: Population, ev: Events, rng: np.random.Generator,
               until: int | None = None) -> tuple[pl.DataFrame, ...]:
    """Employment agency: placements abroad and hiring approvals of foreign workers."""
    p = pl.DataFrame(ev.placements.as_dict(), schema={
        "pid": pl.Int64, "start": pl.Int64, "end": pl.Int64, "programme": pl.Utf8,
        "destination": pl.Utf8, "isco": pl.Utf8})
    i = p["pid"].to_numpy() - 1
    p = p.with_columns(_national=pl.Series(pop.national[i]),
                       _second=pl.Series(p["start"].to_numpy() >= pop.passport_switch[i]),
                       _tie=_tie(p.height, rng), _day=pl.col("start"))
    df = with_identity(p, "placements", pop, rng)
    df = df.with_columns(
        doc_number=pl.when("_national").then("cnie").when("_second").then("passport1")
        .otherwise("passport0"),
        doc_kind=pl.when("_national").then(pl.lit("CIN")).otherwise(pl.lit("PASSPORT")),
        start_date=as_date("start").dt.strftime("%d-%m-%Y"),
        end_date=as_date("end").dt.strftime("%d-%m-%Y").fill_null(""))
    if until is not None:  # an end after the cut-off is not known yet
        df = df.with_columns(end_date=pl.when(pl.col("end") > until).then(pl.lit(""))
                             .otherwise("end_date"))
    df = _unrecorded(df, "doc_number", "doc_kind", P_DOC_UNRECORDED["placements"], rng)
    return finish(df, "placements", pop, rng, until=until)


def month_rows(jobs: pl.DataFrame, year: int, rng: np.random.Generator) -> pl.DataFrame:
    """One row per job and month of `year` with days declared (vectorised expansion)."""
    lo = (year - YEARS[0]) * 12
    hi = lo + 11
    start, end = jobs["start"].to_numpy(), jobs["end"].to_numpy()
    first = np.maximum(MONTH_OF_DAY[start], lo)
    last = np.minimum(MONTH_OF_DAY[end], hi)
    n = np.maximum(last - first + 1, 0)
    job = np.repeat(np.arange(jobs.height), n)
    month = first[job] + np.arange(job.size) - np.repeat(np.cumsum(n) - n, n)
    covered = (np.minimum(end[job], MONTH_START[month + 1] - 1)
               - np.maximum(start[job], MONTH_START[month]) + 1)
    full = covered == MONTH_LEN[month]
    days = np.where(full, DAYS_FULL_MONTH,
                    np.clip(np.rint(DAYS_FULL_MONTH * covered / MONTH_LEN[month]), 1,
                            DAYS_FULL_MONTH)).astype(np.int64)
    absent = full & (rng.random(job.size) < 0.06)  # sick leave, unpaid days
    days = np.where(absent, rng.integers(12, DAYS_FULL_MONTH, job.size), days)
    part = jobs["part_time"].to_numpy()[job]
    days = np.where(part, np.minimum(days, rng.integers(8, 23, job.size)), days)
    return pl.DataFrame({
        "pid": jobs["pid"].to_numpy()[job], "month": month, "jours_declares": days,
        "secteur": jobs["sector"].to_numpy()[job], "tranche_salaire": jobs["band"].to_numpy()[job],
    }, schema_overrides={"pid": pl.Int64, "month": pl.Int64})


def social_security(pop: Population, ev: Events, rng: np.random.Generator, path: Path,
                    truth: RecordsWriter, until: int | None = None) -> int:
    """Write the monthly declarations year by year (bounded memory); return the row count.
    With `until`, only the months starting on or before that day."""
    jobs = pl.DataFrame(ev.jobs.as_dict(), schema={
        "pid": pl.Int64, "start": pl.Int64, "end": pl.Int64, "sector": pl.Utf8,
        "band": pl.Utf8, "part_time": pl.Boolean})
    ident = identity(pop, "social_security", jobs["pid"].to_numpy(), rng)
    i = ident["pid"].to_numpy() - 1
    ident = ident.with_columns(
        _national=pl.Series(pop.national[i]),
        _updates=pl.Series(rng.random(ident.height) < P_FUND_UPDATES_PERMIT))
    history = (pl.DataFrame(ev.permits.as_dict())
               .select(pl.col("pid").cast(pl.Int64), pl.col("issue").cast(pl.Int64),
                       pl.col("number").cast(pl.Int64)).sort("issue"))
    total = written = 0
    with path.open("wb") as out:
        for year in YEARS:
            rows = month_rows(jobs, year, rng)
            rows = rows.with_columns(_tie=_tie(rows.height, rng), _day=pl.col("month"),
                                     _start=pl.Series(MONTH_START[rows["month"].to_numpy()]))
            # The permit number in force at the start of the month (if the fund updates it).
            rows = rows.sort("_start").join_asof(
                history, left_on="_start", right_on="issue", by="pid", strategy="backward",
                check_sortedness=False)
            rows = rows.join(ident, on="pid", how="left")
            k = pl.when(pl.col("_updates")).then(pl.col("number").fill_null(0)).otherwise(0)
            rows = rows.with_columns(
                num_immatriculation="ssn",
                num_piece=pl.when("_national").then("cnie").when(k == 0).then("permit0")
                .when(k == 1).then("permit1").otherwise("permit2"),
                type_piece=pl.when("_national").then(pl.lit("CIN")).otherwise(pl.lit("CS")),
                mois=((YEARS[0] + pl.col("month") // 12) * 100 + pl.col("month") % 12 + 1)
                .cast(pl.Utf8),
            )
            rows = rows.with_columns(type_piece=pl.when(pl.col("num_piece") == "")
                                     .then(pl.lit("")).otherwise("type_piece"))
            raw, records = finish(rows, "social_security", pop, rng, offset=total, until=until,
                                  on="_start")
            write_csv(raw, out, "social_security", header=total == 0)
            truth.add(records)
            total += rows.height
            written += raw.height
    return written


# --- Truth and entry point -------------------------------------------------------------------


class RecordsWriter:
    """truth/records.parquet written chunk by chunk: millions of rows never sit in memory."""

    SCHEMA = pa.schema([("source", pa.string()), ("record_id", pa.string()),
                        ("person_id", pa.int64())])

    def __init__(self, path: Path) -> None:
        self._writer = pq.ParquetWriter(path, self.SCHEMA)

    def add(self, records: pl.DataFrame) -> None:
        self._writer.write_table(records.to_arrow().cast(self.SCHEMA))

    def close(self) -> None:
        self._writer.close()


def persons_frame(pop: Population) -> pl.DataFrame:
    """True attributes of every person (no names, no document numbers)."""
    return pl.DataFrame({
        "person_id": pop.person_id, "group": pop.group.tolist(), "sex": pop.sex.tolist(),
        "nationality": pop.nationality.tolist(), "birth_year": pop.birth_year.astype(np.int64),
        "year_only_birth_date": pop.year_only,
    }, schema_overrides={"person_id": pl.Int64})


def spells_frame(ev: Events, until: int | None = None) -> pl.DataFrame:
    """Presence spells; a first spell starts on 2019-01-01 even if it began earlier. With
    `until`, spells end on that day at the latest and later ones are left out."""
    s = pl.DataFrame(ev.spells.as_dict(), schema={"pid": pl.Int64, "start": pl.Int64,
                                                  "end": pl.Int64, "place": pl.Utf8})
    if until is not None:
        s = s.filter(pl.col("start") <= until).with_columns(end=pl.min_horizontal("end", until))
    return s.select(pl.col("pid").alias("person_id"), as_date("start").alias("start"),
                    as_date("end").alias("end"), "place")


def synthesise(persons: int, seed: int, out: Path, until: date | None = None) -> dict:
    """Write out/raw/{border_crossings,residence_permits,social_security,placements}.csv and
    out/truth/{records,persons,spells}.parquet; return counts (rows per file, persons per group).
    With `until`, the extracts hold only the events up to that date (crossings, permit
    issues, placement starts, declared months starting by then): the same population and,
    row for row, the same earlier records as without it.
    """
    out = Path(out)
    (out / "raw").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    r_pop, r_life, r_border, r_permits, r_ss, r_place = rng.spawn(6)
    pop = build_population(persons, r_pop)
    ev = simulate(pop, r_life)
    cut = None if until is None else until.toordinal() - PERIOD_START.toordinal()

    rows = {}
    truth = RecordsWriter(out / "truth" / "records.parquet")
    try:
        for source, build, r in (("border", border, r_border), ("permits", permits, r_permits),
                                 ("placements", placements, r_place)):
            raw, records = build(pop, ev, r, until=cut)
            write_csv(raw, out / "raw" / RAW_FILES[source], source)
            rows[source] = raw.height
            truth.add(records)
        rows["social_security"] = social_security(
            pop, ev, r_ss, out / "raw" / RAW_FILES["social_security"], truth, until=cut)
    finally:
        truth.close()
    persons_frame(pop).write_parquet(out / "truth" / "persons.parquet")
    spells_frame(ev, cut).write_parquet(out / "truth" / "spells.parquet")
    counts = {g: int((pop.group == g).sum()) for g in GROUPS}
    return {"rows": {s: rows[s] for s in STYLES}, "persons": counts, "persons_total": persons}
