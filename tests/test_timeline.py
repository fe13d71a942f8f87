"""Timeline rules (rules/timeline/, rules/residence.yaml) on hand-built person histories.

Each test is one edge of the residence rules, with the days worked out by hand: the 12/16
rule's window is 487 days and its threshold 365 (12 months x 365.25 / 12, rounded).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from test_indicators import END, START, Row, crossed, d, make_con, permit, person, placed, worked

from linkage.indicators import run_indicators, set_parameters
from linkage.job import check_statistics_rules
from linkage.timeline import (
    RESIDENCE_RULES,
    build_timeline,
    load_residence_rules,
    timeline_summary,
)
from migralink.config import JobConfig
from migralink.errors import ConfigError


def inputs(rows: list[Row]) -> duckdb.DuckDBPyConnection:
    """The input tables and the parameters (MAR, the test period)."""
    con = make_con(rows)
    set_parameters(con, "MAR", START, END)
    return con


def timeline(rows: list[Row]) -> duckdb.DuckDBPyConnection:
    con = inputs(rows)
    build_timeline(con)
    return con


def migrations(con: duckdb.DuckDBPyConnection, pid: str) -> list[tuple]:
    """(date, direction, days_on_new_side, long_term, migration) of each crossing."""
    return con.execute(
        "SELECT date, direction, days_on_new_side, long_term, migration FROM migrations "
        "WHERE person_id = ? ORDER BY date", [pid]).fetchall()


def resident_months(con: duckdb.DuckDBPyConnection, pid: str, start: str, end: str) -> list:
    return [row[0] for row in con.execute(
        "SELECT resident FROM person_months WHERE person_id = ? AND month BETWEEN ? AND ? "
        "ORDER BY month", [pid, d(start), d(end)]).fetchall()]


def flow(con: duckdb.DuckDBPyConnection, indicator: str) -> list[tuple]:
    """(year, persons) of an indicator's all-totals cells."""
    return con.execute(
        "SELECT time_period, persons FROM indicator_cells WHERE indicator = ? AND sex = '_T' "
        "AND age_group IN ('_T', '_Z') AND citizenship IN ('_T', '_Z') "
        "AND activity IN ('_T', '_Z') AND occupation IN ('_T', '_Z') "
        "AND destination IN ('_T', '_Z') AND residence IN ('_T', '_Z') ORDER BY 1",
        [indicator]).fetchall()


def test_the_rules_turn_months_into_the_487_and_365_days_of_the_12_16_rule() -> None:
    rules = load_residence_rules(RESIDENCE_RULES)
    assert rules.rule == "twelve_month"
    assert (rules.active.window_days, rules.active.threshold_days) == (487, 365)
    six = rules.rules["six_month"]
    assert (six.window_days, six.threshold_days) == (365, 183)


def test_a_return_within_the_window_is_not_a_migration() -> None:
    # Out 1 March 2021, back 1 September 2021: 184 days abroad, short of 365.
    con = timeline([person("n", "M", "MAR", 1990),
                    crossed("n", "2021-03-01", "out"), crossed("n", "2021-09-01", "in")])
    assert migrations(con, "n") == [
        (d("2021-03-01"), "out", 184, False, False),
        # back home for the rest of the window (the last stay is open-ended): long-term, but
        # the person never stopped being resident, so it is no migration
        (d("2021-09-01"), "in", 487, True, False),
    ]
    assert all(resident_months(con, "n", "2021-01-01", "2021-12-01"))


def test_exactly_12_months_abroad_is_a_departure_and_one_day_less_is_not() -> None:
    con = timeline([
        person("a", "M", "MAR", 1990),
        crossed("a", "2021-03-01", "out"), crossed("a", "2022-03-01", "in"),   # 365 days
        person("b", "M", "MAR", 1990),
        crossed("b", "2021-03-01", "out"), crossed("b", "2022-02-28", "in"),   # 364 days
    ])
    assert migrations(con, "a") == [(d("2021-03-01"), "out", 365, True, True),
                                    (d("2022-03-01"), "in", 487, True, True)]
    assert migrations(con, "b") == [(d("2021-03-01"), "out", 364, False, False),
                                    (d("2022-02-28"), "in", 487, True, False)]
    # a is non-resident at the ends of March 2021 to February 2022: 12 months
    assert resident_months(con, "a", "2021-02-01", "2022-03-01") == [True] + [False] * 12 + [True]
    assert all(resident_months(con, "b", "2021-02-01", "2022-03-01"))


def test_a_missing_exit_is_imputed_after_the_last_declared_work_between_two_entries() -> None:
    # Entered 10 Jan 2020, worked Feb and Aug 2020, entered again 1 June 2021: the exit
    # between the two entries is missing; it is placed at the end of the last month worked.
    con = timeline([
        person("w", "F", "SEN", 1990),
        crossed("w", "2020-01-10", "in"), crossed("w", "2021-06-01", "in"),
        worked("w", "2020-02-01"), worked("w", "2020-08-01"),
        person("m", "F", "SEN", 1990),      # no work between: the midpoint
        crossed("m", "2020-01-10", "in"), crossed("m", "2020-03-10", "in"),
    ])
    assert con.execute("SELECT person_id, date, direction, basis FROM crossings WHERE imputed "
                       "ORDER BY 1").fetchall() == [
        ("m", d("2020-02-09"), "out", "midpoint"),          # 10 Jan + 60 // 2 days
        ("w", d("2020-08-31"), "out", "declared work"),
    ]
    # Away 31 Aug 2020 - 1 June 2021 (274 days): no departure; the June 2021 entry is an
    # arrival (487 days in, as the last stay is open-ended) of a non-resident: she had been
    # abroad before her first entry and never stayed 365 days.
    assert [row[-1] for row in migrations(con, "w")] == [False, False, True]
    assert timeline_summary(con)["imputed_by_declared_work"] == 1
    assert timeline_summary(con)["imputed_at_midpoint"] == 1


def test_work_declared_while_recorded_abroad_counts_as_presence() -> None:
    con = timeline([person("x", "M", "MAR", 1980), crossed("x", "2022-01-05", "out"),
                    crossed("x", "2022-06-20", "in"), worked("x", "2022-03-01")])
    rows = con.execute("SELECT month, days_in, present, work_while_abroad FROM person_months "
                       "WHERE person_id = 'x' AND month BETWEEN '2022-01-01' AND '2022-06-01' "
                       "ORDER BY month").fetchall()
    assert rows == [
        (d("2022-01-01"), 4, False, False),     # in on 1-4 January: 4 days of 31
        (d("2022-02-01"), 0, False, False),
        (d("2022-03-01"), 0, True, True),       # declared work: present
        (d("2022-04-01"), 0, False, False),
        (d("2022-05-01"), 0, False, False),
        (d("2022-06-01"), 11, False, False),    # 20-30 June: 11 days of 30, not more than half
    ]


def test_same_day_crossings_cancel_and_repeated_records_count_once() -> None:
    con = timeline([person("t", "M", "MAR", 1980),
                    crossed("t", "2022-05-01", "out"), crossed("t", "2022-05-01", "in"),
                    crossed("t", "2022-07-01", "out"),
                    ("border_crossings", "t", "dgsn", "dup", d("2022-07-01"), "out", "TNG")])
    assert con.execute("SELECT date, direction FROM crossings").fetchall() == [
        (d("2022-07-01"), "out")]


def test_a_first_crossing_early_in_the_period_cannot_be_a_migration() -> None:
    # First seen arriving in March 2019, two months into the period: how long she had been
    # abroad is unknown, so the arrival makes her resident but is not counted as a migration.
    con = timeline([person("e", "F", "FRA", 1985), crossed("e", "2019-03-01", "in"),
                    person("l", "F", "FRA", 1985), crossed("l", "2020-03-01", "in")])
    assert con.execute("SELECT person_id, changes_residence, censored, migration FROM migrations "
                       "ORDER BY 1").fetchall() == [("e", True, True, False),
                                                    ("l", True, False, True)]
    assert resident_months(con, "e", "2019-02-01", "2019-03-01") == [False, True]


def test_a_national_returning_after_two_years_abroad_for_work() -> None:
    con = timeline([
        person("r", "M", "MAR", 1985),
        placed("r", "2020-01-10", "FRA"),
        crossed("r", "2020-01-15", "out"), crossed("r", "2022-02-01", "in"),
    ])
    run_indicators(con)
    assert migrations(con, "r") == [(d("2020-01-15"), "out", 487, True, True),
                                    (d("2022-02-01"), "in", 487, True, True)]
    assert resident_months(con, "r", "2021-06-01", "2022-02-01") == [False] * 8 + [True]
    assert flow(con, "long_term_departures") == [("2020", 1)]
    assert flow(con, "long_term_arrivals") == [("2022", 1)]
    assert flow(con, "outflow_nationals_for_work") == [("2020", 1)]
    assert flow(con, "return_migrant_workers") == [("2022", 1)]


def test_a_seasonal_worker_who_overstays_is_a_non_return() -> None:
    # Season 1 April - 31 July 2022, due back by 29 September (60 days' grace); back 15 Jan 2023.
    con = timeline([
        person("s", "F", "MAR", 1995),
        ("placements", "s", "anapec", "pl-s", "SEASONAL_AGRI_ESP", "ESP", "9",
         d("2022-04-01"), d("2022-07-31")),
        crossed("s", "2022-04-02", "out"), crossed("s", "2023-01-15", "in"),
    ])
    run_indicators(con)
    assert flow(con, "seasonal_departures") == [("2022", 1)]
    assert flow(con, "seasonal_non_returns") == [("2022", 1)]
    assert flow(con, "seasonal_returns") == []
    # 288 days abroad: she kept her residence, so the late return is still a return
    assert flow(con, "return_migrant_workers") == [("2023", 1)]


def test_a_worker_with_a_permit_but_no_declared_work() -> None:
    con = timeline([person("p", "M", "SEN", 1990), permit("p", "2022-05-10"),
                    crossed("p", "2022-05-01", "in")])
    run_indicators(con)
    assert flow(con, "inflow_for_work") == [("2022", 1)]      # came to work: a work permit
    assert flow(con, "stock_migrant_workers") == []           # but never declared employed
    assert flow(con, "stock_migrant_workers_year_end") == []


def test_stock_splits_resident_and_non_resident_foreign_workers() -> None:
    # Resident since before the data (no crossing) vs. a four-month seasonal worker.
    con = timeline([
        person("res", "F", "SEN", 1990), worked("res", "2023-06-01"),
        person("sea", "M", "ESP", 1990), crossed("sea", "2023-05-01", "in"),
        crossed("sea", "2023-09-01", "out"), worked("sea", "2023-06-01"),
    ])
    run_indicators(con)
    cells = con.execute(
        "SELECT residence, persons FROM indicator_cells WHERE indicator = 'stock_migrant_workers' "
        "AND time_period = '2023-06' AND sex = '_T' AND age_group = '_T' AND citizenship = '_T' "
        "AND activity = '_T' ORDER BY 1").fetchall()
    assert cells == [("NR", 1), ("R", 1), ("_T", 2)]


def test_six_month_variant_counts_a_seven_month_stay(tmp_path: Path) -> None:
    text = RESIDENCE_RULES.read_text(encoding="utf-8").replace("rule: twelve_month",
                                                               "rule: six_month")
    rules_file = tmp_path / "residence.yaml"
    rules_file.write_text(text, encoding="utf-8")
    con = inputs([person("v", "M", "MAR", 1990), crossed("v", "2021-03-01", "out"),
                    crossed("v", "2021-10-01", "in")])           # 214 days abroad
    build_timeline(con, load_residence_rules(rules_file))
    assert migrations(con, "v")[0] == (d("2021-03-01"), "out", 214, True, True)


@pytest.mark.parametrize("change, reason", [
    ("rule: twelve_month", "rule: nine_month"),
    ("threshold_months: 12", "threshold_months: 20"),
    ("present_share: 0.5", "present_share: 2"),
    ("steps: [crossings, stays, migrations, person_months]", "steps: [crossings, nowhere]"),
])
def test_bad_residence_rules_name_the_file(tmp_path: Path, change: str, reason: str) -> None:
    text = RESIDENCE_RULES.read_text(encoding="utf-8")
    assert change in text
    rules_file = tmp_path / "residence.yaml"
    rules_file.write_text(text.replace(change, reason), encoding="utf-8")
    with pytest.raises(ConfigError, match="residence.yaml|nowhere.sql"):
        build_timeline(inputs([]), load_residence_rules(rules_file))


def test_declared_work_abroad_counts_toward_the_country_in_the_12_16_window() -> None:
    # Out 1 March 2021, never seen again at the border, but declared at work in the country
    # in January-March 2022: those 90 days (31 + 28 + 31) are taken out of the 487 abroad,
    # leaving 397 (still long-term); with work through the whole of 2021 after March
    # (9 months, 275 days) only 212 remain and it is no departure.
    con = timeline([
        person("a", "M", "MAR", 1980), crossed("a", "2021-03-01", "out"),
        *(worked("a", f"2022-0{m}-01") for m in (1, 2, 3)),
        person("b", "M", "MAR", 1980), crossed("b", "2021-03-01", "out"),
        *(worked("b", f"2021-{m:02d}-01") for m in range(4, 13)),
    ])
    assert migrations(con, "a") == [(d("2021-03-01"), "out", 397, True, True)]
    assert migrations(con, "b") == [(d("2021-03-01"), "out", 212, False, False)]


@pytest.mark.parametrize("field, text", [
    ("residence", "rule: nine_month\n"),
    ("disclosure", "method: rounding\nrounding: {suppress_below: 0}\n"),
    ("sdmx", "version: 1\n"),
])
def test_bad_statistics_rules_stop_the_job_before_linking(demo_config: JobConfig, tmp_path: Path,
                                                          field: str, text: str) -> None:
    bad = tmp_path / f"{field}.yaml"
    bad.write_text(text, encoding="utf-8")
    check_statistics_rules(demo_config)           # the shipped rules pass
    with pytest.raises(ConfigError, match=f"{field}.yaml"):
        check_statistics_rules(demo_config.model_copy(update={field: bad}))
