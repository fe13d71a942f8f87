"""Indicator rules and their runner, on hand-made persons whose counts are worked out by hand.

Every test builds its input tables from a few persons, builds the timeline and runs the rules
(`run`), then reads the cells of `indicator_cells` with `cells`: the sex-by-one-dimension
table of an indicator, every other dimension at its total ('_T') or not applicable ('_Z').
The reference period is 2019-01-01 to 2025-12-31 and the country MAR unless a test says
otherwise. Residence comes from the 12/16 rule (rules/residence.yaml): 12 months = 365 days
on the new side within the 16 months = 487 days after a crossing.
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import duckdb
import pytest

from linkage.indicators import (
    CELL_COLUMNS,
    CELLS_TABLE,
    DIMENSIONS,
    INDICATORS_DIR,
    load_indicators,
    read_indicator,
    run_indicators,
    set_parameters,
)
from linkage.timeline import build_timeline
from migralink.errors import ConfigError

SCHEMA = {
    "persons": "person_id VARCHAR, sex VARCHAR, citizenship VARCHAR, birth_year INTEGER",
    "border_crossings": "person_id VARCHAR, source VARCHAR, record_id VARCHAR, date DATE, "
                        "direction VARCHAR, border_post VARCHAR",
    "residence_permits": "person_id VARCHAR, source VARCHAR, record_id VARCHAR, "
                         "issue_date DATE, expiry_date DATE, reason VARCHAR",
    "employment_months": "person_id VARCHAR, source VARCHAR, record_id VARCHAR, month DATE, "
                         "days_declared INTEGER, sector VARCHAR, wage_band VARCHAR",
    "placements": "person_id VARCHAR, source VARCHAR, record_id VARCHAR, programme VARCHAR, "
                  "destination VARCHAR, occupation VARCHAR, start_date DATE, end_date DATE",
}
ALL_INDICATORS = {
    "inflow_for_work", "long_term_arrivals", "long_term_departures",
    "outflow_nationals_for_work", "return_migrant_workers", "seasonal_departures",
    "seasonal_non_returns", "seasonal_returns", "stock_migrant_workers",
    "stock_migrant_workers_year_end",
}
ALL_VIEWS = {"age_groups", "aged_15_plus", "departures_for_work", "migrant_worker_months",
             "seasonal_outcomes"}
START, END = date(2019, 1, 1), date(2025, 12, 31)

Row = tuple[object, ...]


def d(text: str) -> date:
    return date.fromisoformat(text)


def person(pid: str, sex: str | None, citizenship: str | None, birth_year: int | None) -> Row:
    return ("persons", pid, sex, citizenship, birth_year)


def worked(pid: str, month: str, days: int = 20, sector: str | None = "A",
           employer: str = "cnss") -> Row:
    return ("employment_months", pid, employer, f"e-{pid}-{employer}-{month}", d(month), days,
            sector, "1")


def crossed(pid: str, day: str, direction: str) -> Row:
    return ("border_crossings", pid, "dgsn", f"b-{pid}-{day}-{direction}", d(day), direction, "TNG")


def permit(pid: str, issued: str, reason: str = "work") -> Row:
    return ("residence_permits", pid, "dgsn", f"p-{pid}-{issued}", d(issued), None, reason)


def placed(pid: str, start: str, destination: str | None, programme: str = "REGULAR",
           occupation: str | None = "9", end: str | None = None) -> Row:
    return ("placements", pid, "anapec", f"pl-{pid}-{start}", programme, destination, occupation,
            d(start), d(end) if end else None)


def make_con(rows: list[Row], con: duckdb.DuckDBPyConnection | None = None
             ) -> duckdb.DuckDBPyConnection:
    """Input tables holding `rows` (first item: the table); no parameters set."""
    con = con or duckdb.connect()
    for table, columns in SCHEMA.items():
        con.execute(f"CREATE TABLE {table} ({columns})")
        mine = [row[1:] for row in rows if row[0] == table]
        if mine:
            marks = ", ".join("?" * len(mine[0]))
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", mine)
    return con


def run(con: duckdb.DuckDBPyConnection, folder: Path = INDICATORS_DIR,
        start: date = START, end: date = END) -> dict[str, int]:
    """Parameters (MAR, start..end), the timeline tables, then the indicator cells."""
    set_parameters(con, "MAR", start, end)
    build_timeline(con)
    return run_indicators(con, folder)


def cells(con: duckdb.DuckDBPyConnection, indicator: str, by: str | None = None, *,
          table: str = CELLS_TABLE, **fixed: str) -> list[Row]:
    """(time_period, sex[, by], persons) of the indicator's cells whose dimensions other than
    `by` are all '_T' or '_Z' (the sex-by-`by` table with its margins), sorted; `fixed`
    keeps the cells with those column values (e.g. time_period='2021', sex='_T')."""
    others = [f"{dim} IN ('_T', '_Z')" for dim in DIMENSIONS if dim != by]
    where = " AND ".join(["indicator = ?", *others, *(f"{col} = ?" for col in fixed)])
    columns = ", ".join(["time_period", "sex", *([by] if by else []), "persons"])
    return con.execute(f"SELECT {columns} FROM {table} WHERE {where} ORDER BY ALL",
                       [indicator, *fixed.values()]).fetchall()


def con_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def write_rule(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / f"{name}.sql"
    file.write_text(text, encoding="utf-8")
    return file


def header(name: str, frequency: str = "annual", dimensions: str = "") -> str:
    return (f"-- indicator: {name}\n-- frequency: {frequency}\n-- dimensions: {dimensions}\n"
            "-- definition: test.\n-- source: test.\n")


# --- stocks -----------------------------------------------------------------------------------

def test_stock_counts_foreign_workers_aged_15_in_declared_months_only() -> None:
    con = make_con([
        person("w", "F", "SEN", 1990),
        *(worked("w", m) for m in ("2021-01-01", "2021-02-01", "2021-03-01")),
        worked("w", "2021-01-01", days=5, sector="C", employer="cnss2"),  # 2nd employer
        worked("w", "2018-12-01"),  # before the period
        person("national", "M", "MAR", 1985), worked("national", "2021-01-01"),
        person("aged14", "M", "SEN", 2007), worked("aged14", "2021-01-01"),
        person("aged15", "M", "SEN", 2006), worked("aged15", "2021-01-01", sector="F"),
        person("no_birth", "M", "FRA", None),
        worked("no_birth", "2021-01-01", days=0), worked("no_birth", "2021-02-01", days=5),
        person("no_citizenship", "F", None, 1980), worked("no_citizenship", "2021-01-01"),
    ])
    counts = run(con)
    assert cells(con, "stock_migrant_workers") == [
        ("2021-01", "F", 1), ("2021-01", "M", 1), ("2021-01", "_T", 2),  # w, aged15
        ("2021-02", "F", 1), ("2021-02", "M", 1), ("2021-02", "_T", 2),  # w, no_birth
        ("2021-03", "F", 1), ("2021-03", "_T", 1),                       # w
    ]  # no_birth declared 0 days in January: not employed then
    assert cells(con, "stock_migrant_workers", "age_group", time_period="2021-01") == [
        ("2021-01", "F", "25-34", 1), ("2021-01", "F", "_T", 1),  # w: 2021 - 1990 = 31
        ("2021-01", "M", "15-24", 1), ("2021-01", "M", "_T", 1),  # aged15: 2021 - 2006 = 15
        ("2021-01", "_T", "15-24", 1), ("2021-01", "_T", "25-34", 1), ("2021-01", "_T", "_T", 2),
    ]
    assert cells(con, "stock_migrant_workers", "age_group", time_period="2021-02", sex="M") == [
        ("2021-02", "M", "_T", 1), ("2021-02", "M", "_U", 1)]  # no birth year: unknown age
    assert cells(con, "stock_migrant_workers", "activity", time_period="2021-01") == [
        ("2021-01", "F", "A", 1), ("2021-01", "F", "_T", 1),  # w: 20 days in A beat 5 in C
        ("2021-01", "M", "F", 1), ("2021-01", "M", "_T", 1),
        ("2021-01", "_T", "A", 1), ("2021-01", "_T", "F", 1), ("2021-01", "_T", "_T", 2),
    ]
    # Cells written: per month, sex (one per sex + '_T') and for each of the 4 dimensions the
    # sex-by-dimension cells plus the dimension's own margin. January (w: F 25-34 SEN A R;
    # aged15: M 15-24 SEN F R): 3 + age 2+2 + citizenship 2+1 + activity 2+2 + residence
    # 2+1 = 17; February (w; no_birth: M _U FRA A R): 3 + 2+2 + 2+2 + 2+1 + 2+1 = 17; March
    # (w alone): 2 + 4 x (1+1) = 10.
    assert counts["stock_migrant_workers"] == 17 + 17 + 10


def test_stock_residence_and_main_activity() -> None:
    con = make_con([
        # no crossing: in the country all along, a resident; two employers, same days: the
        # first section in order (C before F)
        person("settled", "F", "SEN", 1990),
        worked("settled", "2021-03-01", sector="F"),
        worked("settled", "2021-03-01", sector="C", employer="cnss2"),
        # in for 4.5 months (136 days < 365): stays a non-resident foreign worker
        person("seasonal", "M", "SEN", 1990), crossed("seasonal", "2021-03-01", "in"),
        *(worked("seasonal", f"2021-0{m}-01") for m in (3, 4, 5, 6)),
        crossed("seasonal", "2021-07-15", "out"),
        # arrives to stay on 20 March: resident at the end of March; no sector declared
        person("arrived", "M", "CIV", 1990), crossed("arrived", "2021-03-20", "in"),
        worked("arrived", "2021-03-01", sector=None),
    ])
    run(con)
    assert cells(con, "stock_migrant_workers", "residence", time_period="2021-03") == [
        ("2021-03", "F", "R", 1), ("2021-03", "F", "_T", 1),
        ("2021-03", "M", "NR", 1), ("2021-03", "M", "R", 1), ("2021-03", "M", "_T", 2),
        ("2021-03", "_T", "NR", 1), ("2021-03", "_T", "R", 2), ("2021-03", "_T", "_T", 3),
    ]
    assert cells(con, "stock_migrant_workers", "activity", time_period="2021-03", sex="_T") == [
        ("2021-03", "_T", "A", 1), ("2021-03", "_T", "C", 1), ("2021-03", "_T", "_T", 3),
        ("2021-03", "_T", "_U", 1)]
    assert cells(con, "stock_migrant_workers", "residence", time_period="2021-06", sex="_T") == [
        ("2021-06", "_T", "NR", 1), ("2021-06", "_T", "_T", 1)]


def test_stock_year_end_is_the_december_stock() -> None:
    con = make_con([
        person("a", "F", "SEN", 1990),
        *(worked("a", m) for m in ("2021-11-01", "2021-12-01", "2022-12-01")),
        person("november", "M", "SEN", 1990), worked("november", "2021-11-01"),
        person("c", "M", "CIV", 1980), worked("c", "2024-12-01"), worked("c", "2025-06-01"),
    ])
    run(con, end=d("2025-06-30"))  # 2025 has no December in the period: no year-end figure
    assert cells(con, "stock_migrant_workers_year_end") == [
        ("2021", "F", 1), ("2021", "_T", 1),
        ("2022", "F", 1), ("2022", "_T", 1),
        ("2024", "M", 1), ("2024", "_T", 1),
    ]
    assert con.execute("SELECT DISTINCT frequency FROM indicator_cells "
                       "WHERE indicator = 'stock_migrant_workers_year_end'").fetchall() == [("A",)]


# --- flows of foreign workers -------------------------------------------------------------------

def test_inflow_needs_an_entry_near_a_first_work_signal_after_the_first_month() -> None:
    con = make_con([
        # entry 100 days before the first declared month: an inflow in 2021
        person("near", "M", "SEN", 1990), crossed("near", "2021-02-21", "in"),
        worked("near", "2021-06-01"), worked("near", "2021-07-01"),
        # entry 200 days before: no inflow
        person("far", "F", "CIV", 1990), crossed("far", "2020-11-13", "in"),
        worked("far", "2021-06-01"),
        # entry exactly 180 days before 2021-07-01 counts; 181 days does not
        person("edge180", "F", "CIV", 1990), crossed("edge180", "2021-01-02", "in"),
        worked("edge180", "2021-07-01"),
        person("edge181", "F", "CIV", 1990), crossed("edge181", "2021-01-01", "in"),
        worked("edge181", "2021-07-01"),
        # entry 31 days after the first declared month's first day counts; 32 does not
        person("edge31", "M", "SEN", 1992), crossed("edge31", "2023-06-01", "in"),
        worked("edge31", "2023-05-01"),
        person("edge32", "M", "SEN", 1992), crossed("edge32", "2023-06-02", "in"),
        worked("edge32", "2023-05-01"),
        # first signal in the first month of the period: left-censored; the second month counts
        person("censored", "M", "FRA", 1970), crossed("censored", "2018-12-15", "in"),
        worked("censored", "2019-01-01"),
        person("february", "M", "FRA", 1970), crossed("february", "2019-01-20", "in"),
        worked("february", "2019-02-01"),
        # a work permit is the first signal (2022), entry 9 days before it; activity from the
        # first declared month
        person("permit", "F", "SEN", 1995), crossed("permit", "2022-03-01", "in"),
        permit("permit", "2022-03-10"), worked("permit", "2022-04-01", sector="C"),
        # a work permit and no declared work at all: counts, activity unknown
        person("permit_only", "F", "SEN", 1995), crossed("permit_only", "2024-05-01", "in"),
        permit("permit_only", "2024-05-20"),
        # a family permit is no work signal: the first signal is the 2023 employment
        person("family", "F", "SEN", 1995), crossed("family", "2023-01-10", "in"),
        permit("family", "2020-01-10", reason="family"), worked("family", "2023-02-01"),
        # a hiring approval (placement in the country) is the first signal
        person("hired", "M", "SEN", 1980), crossed("hired", "2022-07-15", "in"),
        placed("hired", "2022-08-01", "MAR"), worked("hired", "2022-09-01", sector="F"),
        # worked before the period, then a hiring approval with a fresh entry: no inflow
        person("earlier", "M", "SEN", 1980), worked("earlier", "2018-06-01"),
        crossed("earlier", "2020-07-15", "in"), placed("earlier", "2020-08-01", "MAR"),
        # the pattern of "near", but a national, no citizenship, or aged 14
        person("national", "M", "MAR", 1990), crossed("national", "2021-02-21", "in"),
        worked("national", "2021-06-01"),
        person("stateless", "M", None, 1990), crossed("stateless", "2021-02-21", "in"),
        worked("stateless", "2021-06-01"),
        person("child", "M", "SEN", 2007), crossed("child", "2021-02-21", "in"),
        worked("child", "2021-06-01"),
    ])
    run(con)
    assert cells(con, "inflow_for_work") == [
        ("2019", "M", 1), ("2019", "_T", 1),                    # february
        ("2021", "F", 1), ("2021", "M", 1), ("2021", "_T", 2),  # edge180, near
        ("2022", "F", 1), ("2022", "M", 1), ("2022", "_T", 2),  # permit, hired
        ("2023", "F", 1), ("2023", "M", 1), ("2023", "_T", 2),  # family, edge31
        ("2024", "F", 1), ("2024", "_T", 1),                    # permit_only
    ]
    assert cells(con, "inflow_for_work", "activity", sex="_T") == [
        ("2019", "_T", "A", 1), ("2019", "_T", "_T", 1),
        ("2021", "_T", "A", 2), ("2021", "_T", "_T", 2),
        ("2022", "_T", "C", 1), ("2022", "_T", "F", 1), ("2022", "_T", "_T", 2),
        ("2023", "_T", "A", 2), ("2023", "_T", "_T", 2),
        ("2024", "_T", "_T", 1), ("2024", "_T", "_U", 1),
    ]
    assert cells(con, "inflow_for_work", "citizenship", time_period="2021", sex="_T") == [
        ("2021", "_T", "CIV", 1), ("2021", "_T", "SEN", 1), ("2021", "_T", "_T", 2)]


def test_long_term_arrivals_and_departures() -> None:
    con = make_con([
        # arrives and stays: an arrival in 2021
        person("settler", "F", "SEN", 1990), crossed("settler", "2021-03-01", "in"),
        # arrives to stay within 365 days of the period start: censored (how long away before?)
        person("early", "F", "SEN", 1990), crossed("early", "2019-06-01", "in"),
        # 364 days in: not long-term; leaving is then no change of residence either
        person("almost", "M", "SEN", 1990), crossed("almost", "2021-03-01", "in"),
        crossed("almost", "2022-02-28", "out"),
        # 365 days in: an arrival in 2021, then a departure in 2022
        person("year", "M", "SEN", 1990), crossed("year", "2021-03-01", "in"),
        crossed("year", "2022-03-01", "out"),
        # a national 396 days abroad: a departure in 2021, then an arrival when back in 2022
        person("emigrant", "F", "MAR", 1980), crossed("emigrant", "2021-05-01", "out"),
        crossed("emigrant", "2022-06-01", "in"),
        # a national's 3-month trip: neither
        person("tripper", "M", "MAR", 1980), crossed("tripper", "2021-05-01", "out"),
        crossed("tripper", "2021-08-01", "in"),
        # a 19-day trip inside the window does not break the arrival (468 of 487 days in); the
        # entry after it is long-term but already a resident's: one arrival
        person("commuter", "F", "SEN", 1990), crossed("commuter", "2021-01-10", "in"),
        crossed("commuter", "2021-06-01", "out"), crossed("commuter", "2021-06-20", "in"),
        # aged 11: not counted; unknown birth year: counted, age unknown
        person("child", "M", "SEN", 2010), crossed("child", "2021-03-01", "in"),
        person("no_birth", "M", "FRA", None), crossed("no_birth", "2023-04-01", "in"),
        # the last months of the period: provisional, still counted
        person("late", "F", "FRA", 1990), crossed("late", "2025-06-01", "in"),
    ])
    run(con)
    assert cells(con, "long_term_arrivals") == [
        ("2021", "F", 2), ("2021", "M", 1), ("2021", "_T", 3),  # settler, commuter; year
        ("2022", "F", 1), ("2022", "_T", 1),                    # emigrant
        ("2023", "M", 1), ("2023", "_T", 1),                    # no_birth
        ("2025", "F", 1), ("2025", "_T", 1),                    # late
    ]
    assert cells(con, "long_term_departures") == [
        ("2021", "F", 1), ("2021", "_T", 1),  # emigrant
        ("2022", "M", 1), ("2022", "_T", 1),  # year
    ]
    assert cells(con, "long_term_arrivals", "citizenship", sex="_T") == [
        ("2021", "_T", "SEN", 3), ("2021", "_T", "_T", 3),
        ("2022", "_T", "MAR", 1), ("2022", "_T", "_T", 1),
        ("2023", "_T", "FRA", 1), ("2023", "_T", "_T", 1),
        ("2025", "_T", "FRA", 1), ("2025", "_T", "_T", 1),
    ]
    assert cells(con, "long_term_arrivals", "age_group", time_period="2023", sex="_T") == [
        ("2023", "_T", "_T", 1), ("2023", "_T", "_U", 1)]


# --- nationals working abroad -------------------------------------------------------------------

def test_outflow_needs_an_exit_near_the_start_of_a_placement_abroad() -> None:
    con = make_con([
        # exit 10 days after the start of a placement in France: outflow 2022
        person("out", "M", "MAR", 1990), placed("out", "2022-03-01", "FRA", occupation="7"),
        crossed("out", "2021-12-01", "in"), crossed("out", "2022-03-11", "out"),
        # any programme counts
        person("crew", "M", "MAR", 1990),
        placed("crew", "2024-02-01", "PRT", "SEAFARERS", occupation="8"),
        crossed("crew", "2024-02-01", "out"),
        # the window is 30 days before to 60 days after the start (2022-05-01)
        person("edge_after", "F", "MAR", 1990), placed("edge_after", "2022-05-01", "ITA"),
        crossed("edge_after", "2022-06-30", "out"),  # +60
        person("edge_before", "F", "MAR", 1990), placed("edge_before", "2022-05-01", "ITA"),
        crossed("edge_before", "2022-04-01", "out"),  # -30
        person("too_late", "M", "MAR", 1990), placed("too_late", "2022-05-01", "FRA"),
        crossed("too_late", "2022-07-01", "out"),  # +61
        person("too_early", "M", "MAR", 1990), placed("too_early", "2022-05-01", "FRA"),
        crossed("too_early", "2022-03-31", "out"),  # -31
        person("no_exit", "F", "MAR", 1990), placed("no_exit", "2022-05-01", "FRA"),
        # three placements in 2023: the first has no exit near its start, so the first
        # departure is to Spain (occupation 6); counted once
        person("multi", "F", "MAR", 1985),
        placed("multi", "2023-01-05", "ITA", occupation="5"),
        placed("multi", "2023-05-01", "ESP", occupation="6"), crossed("multi", "2023-05-01", "out"),
        crossed("multi", "2023-08-01", "in"),
        placed("multi", "2023-10-01", "DEU", occupation="8"), crossed("multi", "2023-10-02", "out"),
        # no destination, or the country itself (a hiring approval): not abroad
        person("nowhere", "M", "MAR", 1990), placed("nowhere", "2022-03-01", None),
        crossed("nowhere", "2022-03-05", "out"),
        person("home", "M", "MAR", 1990), placed("home", "2022-03-01", "MAR"),
        crossed("home", "2022-03-05", "out"),
        # a foreigner placed abroad: not a national
        person("foreign", "M", "SEN", 1990), placed("foreign", "2022-03-01", "FRA"),
        crossed("foreign", "2022-03-05", "out"),
        # left before the period
        person("before", "M", "MAR", 1990), placed("before", "2018-10-01", "FRA"),
        crossed("before", "2018-10-05", "out"),
    ])
    run(con)
    assert cells(con, "outflow_nationals_for_work") == [
        ("2022", "F", 2), ("2022", "M", 1), ("2022", "_T", 3),  # edge_after, edge_before; out
        ("2023", "F", 1), ("2023", "_T", 1),                    # multi
        ("2024", "M", 1), ("2024", "_T", 1),                    # crew
    ]
    assert cells(con, "outflow_nationals_for_work", "destination", sex="_T") == [
        ("2022", "_T", "FRA", 1), ("2022", "_T", "ITA", 2), ("2022", "_T", "_T", 3),
        ("2023", "_T", "ESP", 1), ("2023", "_T", "_T", 1),
        ("2024", "_T", "PRT", 1), ("2024", "_T", "_T", 1),
    ]
    assert cells(con, "outflow_nationals_for_work", "occupation", sex="_T") == [
        ("2022", "_T", "7", 1), ("2022", "_T", "9", 2), ("2022", "_T", "_T", 3),
        ("2023", "_T", "6", 1), ("2023", "_T", "_T", 1),
        ("2024", "_T", "8", 1), ("2024", "_T", "_T", 1),
    ]


def test_return_migrant_workers_must_be_resident_in_the_month_of_return() -> None:
    con = make_con([
        # away from 2020-03-05 (> 12 of the next 16 months abroad: no longer a resident), back
        # for two weeks at Christmas 2021 and off again: a visit, not a return
        person("visitor", "M", "MAR", 1980), placed("visitor", "2020-03-01", "FRA"),
        crossed("visitor", "2020-03-05", "out"), crossed("visitor", "2021-12-20", "in"),
        crossed("visitor", "2022-01-03", "out"),
        # the same, but back to stay: the entry is a long-term arrival, a resident again
        person("stayer", "F", "MAR", 1980), placed("stayer", "2020-03-01", "FRA"),
        crossed("stayer", "2020-03-05", "out"), crossed("stayer", "2021-12-20", "in"),
        # 98 days away: a resident all along
        person("short", "F", "MAR", 1990), placed("short", "2023-04-01", "ESP"),
        crossed("short", "2023-04-03", "out"), crossed("short", "2023-07-10", "in"),
        # two returns in 2022: counted once, with the destination of the first
        person("twice", "M", "MAR", 1990),
        placed("twice", "2022-03-01", "ITA"), crossed("twice", "2022-03-02", "out"),
        crossed("twice", "2022-06-01", "in"),
        placed("twice", "2022-09-01", "DEU"), crossed("twice", "2022-09-02", "out"),
        crossed("twice", "2022-12-01", "in"),
        # left for work before the period (807 days away), back to stay in 2020
        person("back", "M", "MAR", 1980), placed("back", "2018-10-01", "FRA"),
        crossed("back", "2018-10-05", "out"), crossed("back", "2020-12-20", "in"),
        # an exit and an entry without a placement; a foreigner placed abroad: neither
        person("holiday", "F", "MAR", 1980), crossed("holiday", "2022-07-01", "out"),
        crossed("holiday", "2022-08-01", "in"),
        person("foreign", "M", "SEN", 1990), placed("foreign", "2022-03-01", "FRA"),
        crossed("foreign", "2022-03-05", "out"), crossed("foreign", "2022-09-05", "in"),
    ])
    run(con)
    assert cells(con, "return_migrant_workers") == [
        ("2020", "M", 1), ("2020", "_T", 1),  # back
        ("2021", "F", 1), ("2021", "_T", 1),  # stayer (not visitor)
        ("2022", "M", 1), ("2022", "_T", 1),  # twice
        ("2023", "F", 1), ("2023", "_T", 1),  # short
    ]
    assert cells(con, "return_migrant_workers", "destination", sex="_T") == [
        ("2020", "_T", "FRA", 1), ("2020", "_T", "_T", 1),
        ("2021", "_T", "FRA", 1), ("2021", "_T", "_T", 1),
        ("2022", "_T", "ITA", 1), ("2022", "_T", "_T", 1),
        ("2023", "_T", "ESP", 1), ("2023", "_T", "_T", 1),
    ]


def test_return_migrant_worker_who_visits_then_comes_back_to_stay_counts_when_back() -> None:
    """The rule's note: a national away for more than a year who comes back for a short visit
    does not count; "when they come back to stay, the return counts"."""
    con = make_con([
        person("visitor", "M", "MAR", 1980), placed("visitor", "2020-03-01", "FRA"),
        crossed("visitor", "2020-03-05", "out"), crossed("visitor", "2021-12-20", "in"),
        crossed("visitor", "2022-01-03", "out"),
        crossed("visitor", "2023-06-01", "in"),  # back to stay: a resident again from June
    ])
    run(con)
    assert con.execute("SELECT resident FROM person_months WHERE month IN "
                       "('2021-12-01', '2023-06-01') ORDER BY month").fetchall() == [
        (False,), (True,)]
    assert cells(con, "return_migrant_workers") == [("2023", "M", 1), ("2023", "_T", 1)]


def test_return_migrant_worker_counts_when_a_later_return_in_the_year_finds_them_resident(
) -> None:
    """Two returns in 2022: a visit in January (no longer a resident after 22 months away),
    then, after a new departure for work, back to stay in October (a resident again). The
    October return is a return in 2022 of a resident: the person counts in 2022, with the
    destination of that return (DEU)."""
    con = make_con([
        person("p", "M", "MAR", 1980),
        placed("p", "2020-03-01", "FRA"), crossed("p", "2020-03-05", "out"),
        crossed("p", "2022-01-05", "in"),  # 233 of the next 487 days in: still a non-resident
        placed("p", "2022-01-15", "DEU"), crossed("p", "2022-01-20", "out"),
        crossed("p", "2022-10-01", "in"),  # open-ended stay: a long-term arrival
    ])
    run(con)
    assert con.execute("SELECT resident FROM person_months WHERE month IN "
                       "('2022-01-01', '2022-10-01') ORDER BY month").fetchall() == [
        (False,), (True,)]
    assert cells(con, "return_migrant_workers", "destination", sex="_T") == [
        ("2022", "_T", "DEU", 1), ("2022", "_T", "_T", 1)]


def seasonal_workers() -> duckdb.DuckDBPyConnection:
    """Nationals on seasonal placements (due date: end + 60 days), period 2019-2025."""
    return make_con([
        # back exactly on the due date (2023-07-31 + 60 = 2023-09-29): returned
        person("on_time", "F", "MAR", 1990),
        placed("on_time", "2023-04-01", "ESP", "SEASONAL_AGRI_ES", end="2023-07-31"),
        crossed("on_time", "2023-04-03", "out"), crossed("on_time", "2023-09-29", "in"),
        # due 2022-09-29, back 2023-02-01 (304 days away: still a resident): a non-return
        # in 2022, a return migrant worker in 2023
        person("late", "M", "MAR", 1990),
        placed("late", "2022-04-01", "ESP", "SEASONAL_AGRI_ES", end="2022-07-31"),
        crossed("late", "2022-04-03", "out"), crossed("late", "2023-02-01", "in"),
        # due 2021-10-30, back the day after: a non-return, and a return migrant worker, 2021
        person("day_late", "F", "MAR", 1985),
        placed("day_late", "2021-05-01", "FRA", "SEASONAL_AGRI_FR", end="2021-08-31"),
        crossed("day_late", "2021-05-02", "out"), crossed("day_late", "2021-10-31", "in"),
        # never back
        person("never", "M", "MAR", 1985),
        placed("never", "2021-05-01", "FRA", "SEASONAL", end="2021-08-31"),
        crossed("never", "2021-05-02", "out"),
        # due 2026-01-29, after the period end, not back yet: pending, neither
        person("pending", "F", "MAR", 1995),
        placed("pending", "2025-09-01", "ESP", "SEASONAL_AGRI_ES", end="2025-11-30"),
        crossed("pending", "2025-09-02", "out"),
        # leaves in 2024, back in 2025 before its due date (2025-04-29)
        person("across", "F", "MAR", 1995),
        placed("across", "2024-11-01", "ESP", "SEASONAL_AGRI_ES", end="2025-02-28"),
        crossed("across", "2024-11-02", "out"), crossed("across", "2025-03-10", "in"),
        # no end date: no due date, neither a seasonal return nor a non-return
        person("no_end", "M", "MAR", 1990), placed("no_end", "2020-04-01", "ITA", "SEASONAL"),
        crossed("no_end", "2020-04-02", "out"), crossed("no_end", "2020-08-01", "in"),
        # not a seasonal programme, though its name starts alike ('SEA')
        person("crew", "M", "MAR", 1990),
        placed("crew", "2024-02-01", "PRT", "SEAFARERS", end="2024-06-30"),
        crossed("crew", "2024-02-01", "out"),
        # a foreigner on a seasonal placement: not a national
        person("foreign", "M", "SEN", 1990),
        placed("foreign", "2022-03-01", "ESP", "SEASONAL_AGRI_ES", end="2022-06-30"),
        crossed("foreign", "2022-03-05", "out"),
    ])


def test_seasonal_departures_returns_and_non_returns() -> None:
    con = seasonal_workers()
    run(con)
    assert cells(con, "seasonal_departures") == [
        ("2020", "M", 1), ("2020", "_T", 1),                    # no_end
        ("2021", "F", 1), ("2021", "M", 1), ("2021", "_T", 2),  # day_late, never
        ("2022", "M", 1), ("2022", "_T", 1),                    # late
        ("2023", "F", 1), ("2023", "_T", 1),                    # on_time
        ("2024", "F", 1), ("2024", "_T", 1),                    # across
        ("2025", "F", 1), ("2025", "_T", 1),                    # pending
    ]
    assert cells(con, "seasonal_departures", "destination", time_period="2021", sex="_T") == [
        ("2021", "_T", "FRA", 2), ("2021", "_T", "_T", 2)]
    assert cells(con, "seasonal_returns") == [
        ("2023", "F", 1), ("2023", "_T", 1),  # on_time
        ("2025", "F", 1), ("2025", "_T", 1),  # across, in the year of its return
    ]
    assert cells(con, "seasonal_non_returns") == [
        ("2021", "F", 1), ("2021", "M", 1), ("2021", "_T", 2),  # day_late, never
        ("2022", "M", 1), ("2022", "_T", 1),                    # late, in its start year
    ]
    # Late returns are returns all the same, in the year they happen; crew has no entry
    assert cells(con, "return_migrant_workers") == [
        ("2020", "M", 1), ("2020", "_T", 1),                    # no_end
        ("2021", "F", 1), ("2021", "_T", 1),                    # day_late
        ("2023", "F", 1), ("2023", "M", 1), ("2023", "_T", 2),  # on_time; late
        ("2025", "F", 1), ("2025", "_T", 1),                    # across
    ]
    # Every seasonal departure is an outflow: 2024 is across plus crew
    assert cells(con, "outflow_nationals_for_work", time_period="2024", sex="_T") == [
        ("2024", "_T", 2)]


# --- margins, codes ---------------------------------------------------------------------------

def test_margins_are_sums_and_codes_mark_totals_unknowns_and_missing_dimensions() -> None:
    con = make_con([
        person("a", "F", "SEN", 2000),   # 21: 15-24
        person("b", "F", "SEN", 1990),   # 31: 25-34
        person("c", "M", "CIV", 1990),
        person("e", None, "FRA", 1990),  # unknown sex
        person("f", "M", "SEN", None),   # unknown age
        person("g", None, "SEN", None),  # both unknown
        *(worked(pid, "2021-05-01") for pid in "abcefg"),
    ])
    run(con)
    by_age = cells(con, "stock_migrant_workers", "age_group", time_period="2021-05")
    assert by_age == [
        ("2021-05", "F", "15-24", 1), ("2021-05", "F", "25-34", 1), ("2021-05", "F", "_T", 2),
        ("2021-05", "M", "25-34", 1), ("2021-05", "M", "_T", 2), ("2021-05", "M", "_U", 1),
        ("2021-05", "_T", "15-24", 1), ("2021-05", "_T", "25-34", 3), ("2021-05", "_T", "_T", 6),
        ("2021-05", "_T", "_U", 2),
        ("2021-05", "_U", "25-34", 1), ("2021-05", "_U", "_T", 2), ("2021-05", "_U", "_U", 1),
    ]
    table = {(sex, age): n for _, sex, age, n in by_age}
    sexes, ages = {s for s, _ in table} - {"_T"}, {a for _, a in table} - {"_T"}
    for age in ages | {"_T"}:  # the sex total of each age group is the sum over sexes
        assert table["_T", age] == sum(table.get((s, age), 0) for s in sexes)
    for sex in sexes | {"_T"}:  # the age total of each sex is the sum over age groups and _U
        assert table[sex, "_T"] == sum(table.get((sex, a), 0) for a in ages)
    # Dimensions the stock does not break down by are '_Z' in every cell; every cell is of a
    # sex-by-one-dimension table: at most one dimension is not a total
    assert con.execute("SELECT DISTINCT occupation, destination FROM indicator_cells "
                       "WHERE indicator = 'stock_migrant_workers'").fetchall() == [("_Z", "_Z")]
    not_totals = " + ".join(f"({dim} NOT IN ('_T', '_Z'))::INT" for dim in DIMENSIONS)
    assert con.execute(f"SELECT max({not_totals}) FROM indicator_cells").fetchone() == (1,)


def test_margins_are_sums_in_every_indicator() -> None:
    """In every table of every indicator, each total (sex or a dimension) is the sum of the
    cells it totals: the same cell with that column at each of its categories, '_U' included."""
    con = seasonal_workers()
    con.executemany("INSERT INTO persons VALUES (?, ?, ?, ?)",
                    [("x", None, "SEN", None), ("y", "F", "CIV", 2000)])
    con.executemany("INSERT INTO employment_months VALUES (?, 'cnss', ?, ?, 20, ?, '1')",
                    [("x", "ex", d("2022-03-01"), "C"), ("y", "ey3", d("2022-03-01"), None),
                     ("y", "ey12", d("2022-12-01"), None)])
    # x: an inflow and a long-term arrival in 2022; y: in the stock in March and December
    con.execute("INSERT INTO border_crossings VALUES "
                "('x', 'dgsn', 'bx', DATE '2022-02-20', 'in', 'TNG')")
    run(con)
    rows = con.execute(f"SELECT indicator, time_period, sex, {', '.join(DIMENSIONS)}, persons "
                       "FROM indicator_cells").fetchall()
    value = {row[:-1]: row[-1] for row in rows}
    totals = 0
    for key, persons in value.items():
        for col in range(2, len(key)):  # sex, then each dimension
            # a sex total totals any cell; a dimension's total, the sex-by-dimension cells
            others = [other for other in range(3, len(key)) if other != col and col != 2]
            if key[col] != "_T" or any(key[other] not in ("_T", "_Z") for other in others):
                continue
            parts = [n for cell, n in value.items() if cell[col] != "_T"
                     and all(cell[i] == key[i] for i in range(len(key)) if i != col)]
            assert persons == sum(parts), key
            totals += 1
    assert {key[0] for key in value} == ALL_INDICATORS
    assert totals > 100


# --- cell keys ----------------------------------------------------------------------------------

def test_cell_key_is_the_same_for_the_same_persons_in_any_cell() -> None:
    con = make_con([
        person("a", "F", "SEN", 1990), person("b", "F", "SEN", 1991),
        person("c", "M", "CIV", 1970), person("e", "M", "FRA", 2001),
        *(worked(pid, m) for pid in "abce" for m in ("2021-11-01", "2021-12-01")),
    ])
    run(con, end=d("2021-12-31"))
    columns = "sex, " + ", ".join(DIMENSIONS) + ", persons, cell_key"
    december = con.execute(f"SELECT {columns} FROM indicator_cells WHERE indicator = "
                           "'stock_migrant_workers' AND time_period = '2021-12' "
                           "ORDER BY ALL").fetchall()
    year_end = con.execute(f"SELECT {columns} FROM indicator_cells WHERE indicator = "
                           "'stock_migrant_workers_year_end' AND time_period = '2021' "
                           "ORDER BY ALL").fetchall()
    assert year_end == december
    assert len(december) > 10

    def key(**fixed: str) -> float:
        where = " AND ".join(f"{dim} = '{fixed.get(dim, '_T')}'" for dim in ("sex", "age_group",
                                                                               "citizenship"))
        return con.execute(f"SELECT cell_key FROM indicator_cells WHERE indicator = "
                           f"'stock_migrant_workers' AND time_period = '2021-12' AND {where} "
                           "AND activity = '_T' AND residence = '_T'").fetchone()[0]

    # a and b are the women, the 25-34 year-olds (31 and 30) and the Senegalese
    assert key(sex="F") == key(age_group="25-34") == key(citizenship="SEN")
    assert key(sex="F") != key(sex="M")
    # one person's key is their hash over 2^64
    assert key(citizenship="CIV") == con.execute(
        "SELECT hash('c') / 18446744073709551616.0").fetchone()[0]
    low, high = con.execute("SELECT min(cell_key), max(cell_key) FROM indicator_cells").fetchone()
    assert low >= 0 and high < 1


def test_cell_key_does_not_depend_on_the_order_of_the_units(tmp_path: Path) -> None:
    """Two indicators returning the same three persons in opposite orders: the keys must be
    equal (the float sum of the persons' keys rounds differently in each order)."""
    units = ("SELECT person_id, DATE '2021-01-01' AS period, 'F' AS sex "
             "FROM (VALUES ('p0'), ('p1'), ('p2')) AS t (person_id) ORDER BY person_id {}")
    write_rule(tmp_path, "up", header("up") + units.format("ASC"))
    write_rule(tmp_path, "down", header("down") + units.format("DESC"))
    con = make_con([])
    run(con, tmp_path)
    keys = con.execute("SELECT indicator, cell_key FROM indicator_cells WHERE sex = '_T' "
                       "ORDER BY indicator").fetchall()
    assert keys[0][1] == keys[1][1], keys


# --- the runner ---------------------------------------------------------------------------------

def test_real_rules_load_and_are_listed_in_the_readme() -> None:
    indicators = load_indicators(INDICATORS_DIR)
    assert {ind.name for ind in indicators if not ind.is_view} == ALL_INDICATORS
    assert {ind.name for ind in indicators if ind.is_view} == ALL_VIEWS
    assert all(ind.file.stem == ind.name and ind.definition and ind.source for ind in indicators)
    readme = (INDICATORS_DIR / "README.md").read_text(encoding="utf-8")
    missing = [ind.file.name for ind in indicators
               if not ind.is_view and f"`{ind.file.name}`" not in readme]
    assert missing == []


def test_real_rules_run_on_empty_tables() -> None:
    con = make_con([])
    assert run(con) == dict.fromkeys(ALL_INDICATORS, 0)
    assert con.execute("SELECT count(*) FROM indicator_cells").fetchone() == (0,)


def test_runner_writes_codes_and_counts_cells(tmp_path: Path) -> None:
    write_rule(tmp_path, "a_flow", header("a_flow", "annual", "citizenship") + """
        SELECT 'p1' AS person_id, DATE '2021-01-01' AS period, NULL AS sex, NULL AS citizenship
        UNION ALL SELECT 'p2', DATE '2021-01-01', 'F', 'SEN'
        UNION ALL SELECT 'p3', DATE '2022-01-01', 'F', 'SEN';  -- a trailing comment
    """)
    write_rule(tmp_path, "b_month", header("b_month", "monthly") + """
        SELECT DATE '2021-05-01' AS period, 'M' AS sex, 'p1' AS person_id
    """)
    write_rule(tmp_path, "c_empty", header("c_empty", "annual", "occupation") + """
        SELECT 'p' AS person_id, DATE '2021-01-01' AS period, 'F' AS sex, 7 AS occupation
        WHERE false
    """)
    write_rule(tmp_path, "d_cast", header("d_cast", "annual", "occupation") + """
        SELECT 'p' AS person_id, DATE '2021-01-01' AS period, 'F' AS sex, 7 AS occupation
    """)
    con = make_con([])
    # a_flow: 2021 sex (_U, F) + _T, sex x citizenship (_U/_U, F/SEN) + citizenship (_U, SEN):
    # 7 cells; 2022: F, _T, F/SEN, SEN: 4. b_month: M and _T. d_cast: F, _T, F/7, _T/7.
    assert run(con, tmp_path) == {"a_flow": 11, "b_month": 2, "c_empty": 0, "d_cast": 4}
    assert cells(con, "a_flow", "citizenship") == [
        ("2021", "F", "SEN", 1), ("2021", "F", "_T", 1),
        ("2021", "_T", "SEN", 1), ("2021", "_T", "_T", 2), ("2021", "_T", "_U", 1),
        ("2021", "_U", "_T", 1), ("2021", "_U", "_U", 1),
        ("2022", "F", "SEN", 1), ("2022", "F", "_T", 1),
        ("2022", "_T", "SEN", 1), ("2022", "_T", "_T", 1),
    ]
    rows = con.execute("SELECT * EXCLUDE (cell_key) FROM indicator_cells "
                       "WHERE indicator = 'b_month' ORDER BY sex").fetchall()
    assert rows == [("b_month", "M", "2021-05", sex, *["_Z"] * 6, 1) for sex in ("M", "_T")]
    assert cells(con, "d_cast", "occupation", sex="_T") == [
        ("2021", "_T", "7", 1), ("2021", "_T", "_T", 1)]  # an INTEGER dimension, written as text
    types = dict(zip(con.table(CELLS_TABLE).columns, map(str, con.table(CELLS_TABLE).types),
                     strict=True))
    assert types == CELL_COLUMNS
    assert "__indicator_units" not in con_tables(con)


@pytest.mark.parametrize(("text", "reason"), [
    ("-- indicator: a\n-- table: flows\n-- frequency: annual\n-- definition: x\n-- source: y\n"
     "SELECT 1", "unknown header key 'table'"),
    ("-- indicator: a\n-- definition: x\n-- source: y\nSELECT 1", "no '-- frequency:' line"),
    ("-- indicator: a\n-- frequency: quarterly\n-- definition: x\n-- source: y\nSELECT 1",
     "'monthly' or 'annual'"),
    (header("a", dimensions="age_group, region") + "SELECT 1", "unknown dimension 'region'"),
    (header("a", dimensions="sex") + "SELECT 1", "unknown dimension 'sex'"),
    (header("a", dimensions="age_group, age_group") + "SELECT 1", "listed twice"),
    ("-- view: v\n-- frequency: annual\n-- definition: x\n-- source: y\nSELECT 1",
     "'-- view:' file has no indicator, frequency or dimensions"),
    ("-- frequency: annual\n-- definition: x\n-- source: y\nSELECT 1", "no '-- indicator:' line"),
    ("-- indicator: a\n-- frequency: annual\n-- source: y\nSELECT 1", "definition"),
    ("-- indicator: Bad Name\n-- frequency: annual\n-- definition: x\n-- source: y\nSELECT 1",
     "name"),
    ("-- indicator: a\n-- frequency: annual\n-- frequency: monthly\n-- definition: x\n"
     "-- source: y\nSELECT 1", "appears twice"),
    (header("a") + "CREATE TABLE x (y INT)", "one SELECT"),
    (header("a") + "SELECT 1; SELECT 2", "one SELECT"),
    (header("a") + "SELEC 1", "does not parse"),
])
def test_header_and_statement_errors_name_the_file(tmp_path: Path, text: str, reason: str) -> None:
    file = write_rule(tmp_path, "a", text)
    with pytest.raises(ConfigError, match=reason) as caught:
        read_indicator(file)
    assert caught.value.file == str(file)


@pytest.mark.parametrize(("frequency", "dimensions", "select", "reason"), [
    ("annual", "citizenship", "SELECT 'p' AS person_id, DATE '2021-01-01' AS period, 'F' AS sex",
     r"SELECT returns \['person_id', 'period', 'sex'\]; .* must return "
     r"\['person_id', 'period', 'sex', 'citizenship'\]"),
    ("annual", "", "SELECT 'p' AS person_id, DATE '2021-01-01' AS period, 'F' AS sex, "
     "'SEN' AS citizenship", "SELECT returns"),
    ("annual", "", "SELECT 'p' AS person_id, DATE '2021-01-01' AS period, 'F' AS sex "
     "UNION ALL SELECT 'p', DATE '2021-01-01', 'M'", r"1 rows repeat a \(person_id, period\)"),
    ("monthly", "", "SELECT 'p' AS person_id, DATE '2021-05-02' AS period, 'F' AS sex",
     "not the first day of a month"),
    ("annual", "", "SELECT 'p' AS person_id, DATE '2021-05-01' AS period, 'F' AS sex",
     "not the first day of a year"),
    ("annual", "", "SELECT 'p' AS person_id, DATE '2018-01-01' AS period, 'F' AS sex",
     "outside the reference period"),
    ("annual", "", "SELECT NULL AS person_id, DATE '2021-01-01' AS period, 'F' AS sex",
     "no person"),
    ("annual", "", "SELECT person_id, period, sex FROM no_such_table", "SQL fails"),
])
def test_unit_errors_name_the_file(tmp_path: Path, frequency: str, dimensions: str, select: str,
                                   reason: str) -> None:
    file = write_rule(tmp_path, "a", header("a", frequency, dimensions) + select)
    with pytest.raises(ConfigError, match=reason) as caught:
        run(make_con([]), tmp_path)
    assert caught.value.file == str(file)


def test_errors_leave_the_cells_untouched(tmp_path: Path) -> None:
    good = header("a") + "SELECT 'p' AS person_id, DATE '2021-01-01' AS period, 'M' AS sex"
    write_rule(tmp_path / "ok", "a", good)
    con = make_con([])
    run(con, tmp_path / "ok")
    before = con.execute("SELECT * FROM indicator_cells ORDER BY ALL").fetchall()
    assert [row[:4] for row in before] == [("a", "A", "2021", "M"), ("a", "A", "2021", "_T")]

    # a view and a good indicator run before the failing one: all is rolled back
    write_rule(tmp_path / "late", "a", good.replace("'M'", "'F'"))
    write_rule(tmp_path / "late", "b", header("b") + "SELECT 'p' AS person_id, "
               "DATE '2021-01-01' AS period, 'F' AS sex UNION ALL SELECT 'p', "
               "DATE '2021-01-01', 'M'")
    write_rule(tmp_path / "late", "v", "-- view: v\n-- definition: x.\n-- source: y.\nSELECT 1 x")
    with pytest.raises(ConfigError, match="repeat"):
        run(con, tmp_path / "late")

    write_rule(tmp_path / "twice", "a", good)
    write_rule(tmp_path / "twice", "b", good)  # the name inside is 'a' too
    with pytest.raises(ConfigError, match="also in"):
        run(con, tmp_path / "twice")

    write_rule(tmp_path / "header", "a", good)
    write_rule(tmp_path / "header", "b", good.replace("annual", "weekly"))
    with pytest.raises(ConfigError, match="'monthly' or 'annual'"):
        run(con, tmp_path / "header")

    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no \*\.sql"):
        run(con, tmp_path / "empty")

    assert con.execute("SELECT * FROM indicator_cells ORDER BY ALL").fetchall() == before
    assert not {"v", "__indicator_units"} & con_tables(con)
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'v'"
                       ).fetchone() == (0,)


def test_parameters_must_be_set_and_valid() -> None:
    con = make_con([])
    with pytest.raises(ConfigError, match="set_parameters"):
        run_indicators(con, INDICATORS_DIR)
    with pytest.raises(ConfigError, match="ISO3"):
        set_parameters(con, "Morocco", d("2019-01-01"), d("2025-12-31"))
    with pytest.raises(ConfigError, match="after"):
        set_parameters(con, "MAR", d("2025-01-01"), d("2019-12-31"))
    con.execute("SET VARIABLE country = 'MAR'")
    con.execute("SET VARIABLE period_start = '2019-01-01'")  # a string, not a DATE
    con.execute("SET VARIABLE period_end = DATE '2025-12-31'")
    with pytest.raises(ConfigError, match="'period_start' is not set as DATE"):
        run_indicators(con, INDICATORS_DIR)
    set_parameters(con, "MAR", d("2019-01-01"), d("2025-12-31"))
    assert con.execute(
        "SELECT getvariable('country'), getvariable('period_start'), getvariable('period_end')"
    ).fetchone() == ("MAR", d("2019-01-01"), d("2025-12-31"))
    assert "indicator_cells" not in con_tables(con)


def test_outputs_follow_the_search_path() -> None:
    """The evaluator runs the rules over a `truth` schema placed first in the search path."""
    con = make_con([person("w", "F", "SEN", 1990), worked("w", "2021-01-01")])
    con.execute("CREATE SCHEMA truth")
    for table in SCHEMA:
        con.execute(f"CREATE TABLE truth.{table} AS SELECT * FROM main.{table}")
    con.execute("UPDATE truth.persons SET sex = 'M', citizenship = 'FRA'")
    con.execute("SET search_path = 'truth,main'")
    run(con)
    con.execute("SET search_path = 'main'")
    assert cells(con, "stock_migrant_workers", "citizenship", table="truth.indicator_cells",
                 sex="M") == [("2021-01", "M", "FRA", 1), ("2021-01", "M", "_T", 1)]
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' "
                       "AND table_name IN ('indicator_cells', 'person_months')"
                       ).fetchone() == (0,)


def test_runs_are_deterministic_and_ignore_row_order() -> None:
    con = seasonal_workers()
    con.executemany("INSERT INTO persons VALUES (?, ?, ?, ?)",
                    [(f"w{i}", "FM"[i % 2], "SEN", 1980 + i) for i in range(8)])
    con.executemany("INSERT INTO employment_months VALUES (?, 'cnss', ?, ?, 20, ?, '1')",
                    [(f"w{i}", f"e{i}{m}", date(2022, m, 1), "ACF"[i % 3])
                     for i in range(8) for m in (1, 2, 12)])
    first = run(con)
    table = con.execute("SELECT * FROM indicator_cells").fetchall()
    assert run(con) == first
    assert con.execute("SELECT * FROM indicator_cells").fetchall() == table

    shuffled = duckdb.connect()
    for name in SCHEMA:
        rows = con.execute(f"SELECT * FROM {name}").fetchall()
        random.Random(7).shuffle(rows)
        shuffled.execute(f"CREATE TABLE {name} ({SCHEMA[name]})")
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            shuffled.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
    assert run(shuffled) == first
    again = shuffled.execute("SELECT * FROM indicator_cells").fetchall()
    assert [row[:-1] for row in again] == [row[:-1] for row in table]  # all but cell_key
    assert again == table  # cell_key too
