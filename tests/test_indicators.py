"""Indicator rules and their runner, on hand-made persons whose counts are worked out by hand."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import duckdb
import pytest

from linkage.indicators import (
    INDICATORS_DIR,
    load_indicators,
    read_indicator,
    run_indicators,
    set_parameters,
)
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
ALL_INDICATORS = {"inflow_for_work", "outflow_nationals_for_work", "return_migrant_workers",
                  "seasonal_departures", "stock_migrant_workers"}

Row = tuple[object, ...]


def d(text: str) -> date:
    return date.fromisoformat(text)


def person(pid: str, sex: str | None, citizenship: str | None, birth_year: int | None) -> Row:
    return ("persons", pid, sex, citizenship, birth_year)


def worked(pid: str, month: str, days: int = 20) -> Row:
    return ("employment_months", pid, "cnss", f"e-{pid}-{month}", d(month), days, "A", "1")


def crossed(pid: str, day: str, direction: str) -> Row:
    return ("border_crossings", pid, "dgsn", f"b-{pid}-{day}-{direction}", d(day), direction, "TNG")


def permit(pid: str, issued: str, reason: str = "work") -> Row:
    return ("residence_permits", pid, "dgsn", f"p-{pid}-{issued}", d(issued), None, reason)


def placed(pid: str, start: str, destination: str, programme: str = "REGULAR") -> Row:
    return ("placements", pid, "anapec", f"pl-{pid}-{start}", programme, destination, "9",
            d(start), None)


def make_con(rows: list[Row], con: duckdb.DuckDBPyConnection | None = None
             ) -> duckdb.DuckDBPyConnection:
    """Input tables holding `rows` (first item: the table), parameters for MAR 2019-2025."""
    con = con or duckdb.connect()
    for table, columns in SCHEMA.items():
        con.execute(f"CREATE TABLE {table} ({columns})")
        mine = [row[1:] for row in rows if row[0] == table]
        if mine:
            marks = ", ".join("?" * len(mine[0]))
            con.executemany(f"INSERT INTO {table} VALUES ({marks})", mine)
    set_parameters(con, "MAR", d("2019-01-01"), d("2025-12-31"))
    return con


def cells(con: duckdb.DuckDBPyConnection, table: str, indicator: str) -> list[Row]:
    key = "month" if table.endswith("stocks") else "year"
    return con.execute(
        f"SELECT {key}, sex, citizenship, persons FROM {table} WHERE indicator = ? "
        f"ORDER BY ALL", [indicator]).fetchall()


def write_rule(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    file = folder / f"{name}.sql"
    file.write_text(text, encoding="utf-8")
    return file


HEADER = "-- indicator: {name}\n-- table: {table}\n-- definition: test.\n-- source: test.\n"


# --- the rules in rules/indicators ------------------------------------------------------------

def test_stock_counts_foreign_workers_aged_15_in_declared_months_only() -> None:
    con = make_con([
        person("w", "F", "SEN", 1990),
        *(worked("w", m) for m in ("2021-01-01", "2021-02-01", "2021-03-01")),
        ("employment_months", "w", "cnss2", "e2", d("2021-01-01"), 5, "C", "2"),  # 2nd employer
        worked("w", "2018-12-01"),  # before the period
        person("national", "M", "MAR", 1985), worked("national", "2021-01-01"),
        person("aged14", "M", "SEN", 2007), worked("aged14", "2021-01-01"),
        person("aged15", "M", "SEN", 2006), worked("aged15", "2021-01-01"),
        person("no_birth", "M", "FRA", None),
        worked("no_birth", "2021-01-01", days=0), worked("no_birth", "2021-02-01", days=5),
        person("no_citizenship", "F", None, 1980), worked("no_citizenship", "2021-01-01"),
    ])
    counts = run_indicators(con, INDICATORS_DIR)
    assert cells(con, "stocks", "stock_migrant_workers") == [
        (d("2021-01-01"), "F", "SEN", 1),
        (d("2021-01-01"), "M", "SEN", 1),  # aged15; aged14 is out
        (d("2021-02-01"), "F", "SEN", 1),
        (d("2021-02-01"), "M", "FRA", 1),  # 0 days declared in January: not employed then
        (d("2021-03-01"), "F", "SEN", 1),
    ]
    assert counts["stock_migrant_workers"] == 5


def test_inflow_needs_a_recent_entry_and_a_first_work_signal_after_the_first_month() -> None:
    con = make_con([
        # entry 100 days before the first declared month: an inflow in 2021
        person("near", "M", "SEN", 1990), crossed("near", "2021-02-21", "in"),
        worked("near", "2021-06-01"), worked("near", "2021-07-01"),
        # entry 200 days before: no inflow
        person("far", "F", "CIV", 1990), crossed("far", "2020-11-13", "in"),
        worked("far", "2021-06-01"),
        # first signal in the first month of the period: left-censored
        person("censored", "M", "FRA", 1970), crossed("censored", "2018-12-15", "in"),
        worked("censored", "2019-01-01"),
        # a work permit is the first signal (2022), entry 9 days before it
        person("permit", "F", "SEN", 1995), crossed("permit", "2022-03-01", "in"),
        permit("permit", "2022-03-10"), worked("permit", "2022-04-01"),
        # a family permit is no work signal: the first signal is the 2023 employment
        person("family", "F", "SEN", 1995), crossed("family", "2023-01-10", "in"),
        permit("family", "2020-01-10", reason="family"), worked("family", "2023-02-01"),
        # entry 20 days into the first declared month still counts (up to 31 days after)
        person("late_entry", "M", "SEN", 1992), crossed("late_entry", "2023-05-21", "in"),
        worked("late_entry", "2023-05-01"),
        # worked before the period, then a hiring approval with a fresh entry: no inflow
        person("earlier", "M", "SEN", 1980), worked("earlier", "2018-06-01"),
        crossed("earlier", "2020-07-15", "in"), placed("earlier", "2020-08-01", "MAR"),
        # a national with the same pattern as "near": not an inflow
        person("national", "M", "MAR", 1990), crossed("national", "2021-02-21", "in"),
        worked("national", "2021-06-01"),
    ])
    run_indicators(con, INDICATORS_DIR)
    assert cells(con, "flows", "inflow_for_work") == [
        (2021, "M", "SEN", 1),
        (2022, "F", "SEN", 1),
        (2023, "F", "SEN", 1),
        (2023, "M", "SEN", 1),
    ]


def placements_abroad() -> duckdb.DuckDBPyConnection:
    return make_con([
        # exit 10 days after the start of a placement in France: outflow 2022, not back yet
        person("out", "M", "MAR", 1990), placed("out", "2022-03-01", "FRA"),
        crossed("out", "2021-12-01", "in"), crossed("out", "2022-03-11", "out"),
        # a programme that is not seasonal, though its name starts alike
        person("crew", "M", "MAR", 1990), placed("crew", "2024-02-01", "PRT", "SEAFARERS"),
        crossed("crew", "2024-02-01", "out"),
        # no exit at all; exit 106 days after the start: no outflow
        person("no_exit", "F", "MAR", 1990), placed("no_exit", "2022-05-01", "FRA"),
        person("late_exit", "M", "MAR", 1990), placed("late_exit", "2022-05-01", "FRA"),
        crossed("late_exit", "2022-08-15", "out"),
        # seasonal: leaves in April, back in July
        person("seasonal", "F", "MAR", 1990),
        placed("seasonal", "2023-04-01", "ESP", "SEASONAL_AGRI_ES"),
        crossed("seasonal", "2023-04-03", "out"), crossed("seasonal", "2023-07-10", "in"),
        # seasonal, unknown sex, exit 12 days before the start; back in June, again in August
        person("seasonal_u", None, "MAR", 1990),
        placed("seasonal_u", "2023-04-01", "ESP", "SEASONAL_AGRI_ES"),
        crossed("seasonal_u", "2023-03-20", "out"), crossed("seasonal_u", "2023-06-30", "in"),
        crossed("seasonal_u", "2023-07-15", "out"), crossed("seasonal_u", "2023-08-01", "in"),
        # left for work before the period, back in 2020: a return only
        person("back", "M", "MAR", 1980), placed("back", "2018-10-01", "FRA"),
        crossed("back", "2018-10-05", "out"), crossed("back", "2020-12-20", "in"),
        crossed("back", "2021-03-01", "in"),  # a second entry: not the first after the exit
        # an exit and an entry without a placement: neither
        person("holiday", "F", "MAR", 1980), crossed("holiday", "2022-07-01", "out"),
        crossed("holiday", "2022-08-01", "in"),
        # a foreigner placed abroad: not a national
        person("foreign", "M", "SEN", 1990), placed("foreign", "2022-03-01", "FRA"),
        crossed("foreign", "2022-03-05", "out"), crossed("foreign", "2022-09-05", "in"),
    ])


def test_outflow_needs_an_exit_near_the_start_of_a_placement_abroad() -> None:
    con = placements_abroad()
    run_indicators(con, INDICATORS_DIR)
    assert cells(con, "flows", "outflow_nationals_for_work") == [
        (2022, "M", "MAR", 1),
        (2023, "F", "MAR", 1),
        (2023, "U", "MAR", 1),
        (2024, "M", "MAR", 1),
    ]


def test_seasonal_worker_counts_as_a_departure_and_a_return_in_the_same_year() -> None:
    con = placements_abroad()
    run_indicators(con, INDICATORS_DIR)
    assert cells(con, "flows", "seasonal_departures") == [
        (2023, "F", "MAR", 1),
        (2023, "U", "MAR", 1),
    ]
    assert cells(con, "flows", "return_migrant_workers") == [
        (2020, "M", "MAR", 1),
        (2023, "F", "MAR", 1),
        (2023, "U", "MAR", 1),  # two entries, one person
    ]


def test_runs_are_deterministic_and_ignore_row_order() -> None:
    con = placements_abroad()
    first = run_indicators(con, INDICATORS_DIR)
    tables = [con.execute(f"SELECT * FROM {t}").fetchall() for t in ("stocks", "flows")]
    assert run_indicators(con, INDICATORS_DIR) == first
    assert [con.execute(f"SELECT * FROM {t}").fetchall() for t in ("stocks", "flows")] == tables

    shuffled = duckdb.connect()
    for table in SCHEMA:
        rows = con.execute(f"SELECT * FROM {table}").fetchall()
        random.Random(7).shuffle(rows)
        shuffled.execute(f"CREATE TABLE {table} ({SCHEMA[table]})")
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            shuffled.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    set_parameters(shuffled, "MAR", d("2019-01-01"), d("2025-12-31"))
    assert run_indicators(shuffled, INDICATORS_DIR) == first
    assert [shuffled.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("stocks", "flows")] == [sorted(t) for t in tables]


def test_real_rules_load_and_are_listed_in_the_readme() -> None:
    indicators = load_indicators(INDICATORS_DIR)
    assert {ind.name for ind in indicators if not ind.is_view} == ALL_INDICATORS
    assert {ind.name for ind in indicators if ind.is_view} == {"departures_for_work"}
    assert all(ind.file.stem == ind.name and ind.definition and ind.source for ind in indicators)
    readme = (INDICATORS_DIR / "README.md").read_text(encoding="utf-8")
    assert all(f"`{ind.file.name}`" in readme for ind in indicators)


def test_outputs_follow_the_search_path() -> None:
    """The evaluator runs the rules over a `truth` schema placed first in the search path."""
    con = make_con([person("w", "F", "SEN", 1990), worked("w", "2021-01-01")])
    con.execute("CREATE SCHEMA truth")
    con.execute("CREATE TABLE truth.persons AS SELECT * FROM persons WHERE false")
    con.execute("INSERT INTO truth.persons VALUES ('w', 'M', 'FRA', 1990)")
    con.execute("SET search_path = 'truth,main'")
    run_indicators(con, INDICATORS_DIR)
    con.execute("SET search_path = 'main'")
    assert cells(con, "truth.stocks", "stock_migrant_workers") == [(d("2021-01-01"), "M", "FRA", 1)]
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' "
                       "AND table_name IN ('stocks', 'flows')").fetchone()[0] == 0


# --- the runner ---------------------------------------------------------------------------------

def test_runner_fills_unknown_codes_drops_empty_cells_and_counts_rows(tmp_path: Path) -> None:
    write_rule(tmp_path, "a_flow", HEADER.format(name="a_flow", table="flows") + """
        SELECT 2021 AS year, NULL AS sex, NULL AS citizenship, 3 AS persons
        UNION ALL SELECT 2022, 'F', 'SEN', 0;  -- an empty cell; a trailing comment
    """)
    write_rule(tmp_path, "b_stock", HEADER.format(name="b_stock", table="stocks") + """
        SELECT 7 AS persons, 'M' AS sex, NULL AS citizenship, DATE '2021-05-01' AS month
    """)
    write_rule(tmp_path, "c_empty", HEADER.format(name="c_empty", table="flows") + """
        SELECT 2021 AS year, 'M' AS sex, 'SEN' AS citizenship, 0 AS persons
    """)
    con = make_con([])
    assert run_indicators(con, tmp_path) == {"a_flow": 1, "b_stock": 1, "c_empty": 0}
    assert con.execute("SELECT * FROM flows").fetchall() == [("a_flow", 2021, "U", "UNK", 3)]
    assert con.execute("SELECT * FROM stocks").fetchall() == [
        ("b_stock", d("2021-05-01"), "M", "UNK", 7)]
    assert [(c, str(t)) for c, t in zip(con.table("flows").columns, con.table("flows").types,
                                        strict=True)] == [
        ("indicator", "VARCHAR"), ("year", "INTEGER"), ("sex", "VARCHAR"),
        ("citizenship", "VARCHAR"), ("persons", "BIGINT")]


@pytest.mark.parametrize(("text", "reason"), [
    ("-- table: flows\n-- definition: x\n-- source: y\nSELECT 1", "no '-- indicator:' line"),
    ("-- indicator: a\n-- definition: x\n-- source: y\nSELECT 1", "no '-- table:' line"),
    ("-- indicator: a\n-- table: stock\n-- definition: x\n-- source: y\nSELECT 1",
     "'stocks' or 'flows'"),
    ("-- indicator: a\n-- table: flows\n-- source: y\nSELECT 1", "definition"),
    ("-- indicator: a\n-- tabel: flows\n-- definition: x\n-- source: y\nSELECT 1",
     "unknown header key 'tabel'"),
    ("-- indicator: Bad Name\n-- table: flows\n-- definition: x\n-- source: y\nSELECT 1",
     "name"),
    (HEADER.format(name="a", table="flows") + "CREATE TABLE x (y INT)", "one SELECT"),
    (HEADER.format(name="a", table="flows") + "SELECT 1; SELECT 2", "one SELECT"),
    (HEADER.format(name="a", table="flows") + "SELEC 1", "does not parse"),
])
def test_header_and_statement_errors_name_the_file(tmp_path: Path, text: str, reason: str) -> None:
    file = write_rule(tmp_path, "a", text)
    with pytest.raises(ConfigError, match=reason) as caught:
        read_indicator(file)
    assert caught.value.file == str(file)


def test_errors_in_a_folder_leave_the_tables_untouched(tmp_path: Path) -> None:
    good = HEADER.format(name="a", table="flows") + "SELECT 2021 AS year, 'M' AS sex, 'SEN' AS " \
        "citizenship, 1 AS persons"
    write_rule(tmp_path / "ok", "a", good)
    con = make_con([])
    run_indicators(con, tmp_path / "ok")

    write_rule(tmp_path / "twice", "a", good)
    write_rule(tmp_path / "twice", "b", good)
    with pytest.raises(ConfigError, match="also in"):
        run_indicators(con, tmp_path / "twice")

    write_rule(tmp_path / "columns", "a", good)
    write_rule(tmp_path / "columns", "b", HEADER.format(name="b", table="stocks") + "SELECT 1 x")
    with pytest.raises(ConfigError, match="a stocks rule returns"):
        run_indicators(con, tmp_path / "columns")

    write_rule(tmp_path / "repeated", "a", good + " UNION ALL SELECT 2021, NULL, 'SEN', 1"
               " UNION ALL SELECT 2021, 'U', 'SEN', 1")
    with pytest.raises(ConfigError, match="more than one row"):
        run_indicators(con, tmp_path / "repeated")

    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no \\*.sql"):
        run_indicators(con, tmp_path / "empty")
    assert con.execute("SELECT * FROM flows").fetchall() == [("a", 2021, "M", "SEN", 1)]


def test_parameters_must_be_set_and_valid(tmp_path: Path) -> None:
    con = duckdb.connect()
    with pytest.raises(ConfigError, match="set_parameters"):
        run_indicators(con, INDICATORS_DIR)
    with pytest.raises(ConfigError, match="ISO3"):
        set_parameters(con, "Morocco", d("2019-01-01"), d("2025-12-31"))
    with pytest.raises(ConfigError, match="after"):
        set_parameters(con, "MAR", d("2025-01-01"), d("2019-12-31"))
    set_parameters(con, "MAR", d("2019-01-01"), d("2025-12-31"))
    assert con.execute(
        "SELECT getvariable('country'), getvariable('period_start'), getvariable('period_end')"
    ).fetchone() == ("MAR", d("2019-01-01"), d("2025-12-31"))
