"""Disclosure control on hand-made tables whose suppressions and roundings are worked out by hand.

`protection_problems` checks published_cells against indicator_cells; it is meant to be reused
on any run's output (e.g. the demo's): it shares no code with the suppression it checks.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from linkage.disclosure import (
    CLASSIFICATIONS,
    DIMENSIONS,
    KEY_COLUMNS,
    Cell,
    DisclosureRules,
    Rounding,
    apply_disclosure,
    load_disclosure_rules,
    load_sdmx_rules,
    random_round,
    round_cell,
    write_published,
)
from migralink.errors import ConfigError, InputError

SUPPRESSION = DisclosureRules(version=1)  # min_count 10
ROUNDING = DisclosureRules(version=1, method="rounding")  # below 6 hidden; bases 3, 5, 10, 100
CELLS_SCHEMA = ", ".join([f"{c} VARCHAR" for c in KEY_COLUMNS] + ["persons BIGINT",
                                                                   "cell_key DOUBLE"])


def protection_problems(con: duckdb.DuckDBPyConnection, min_count: int,
                        lines: bool = True) -> list[str]:
    """What breaks disclosure control in published_cells, against the exact indicator_cells:
    a published value of a cell whose exact count is 1..min_count-1, and (`lines`, for
    suppression) a line with exactly one suppressed cell, which is then its total minus the
    published rest. A line: the cells differing in one dimension (not '_Z') plus its '_T'."""
    keys = ", ".join(KEY_COLUMNS)
    small = con.execute(f"""
        SELECT {keys}, i.persons FROM published_cells p JOIN indicator_cells i USING ({keys})
        WHERE p.value IS NOT NULL AND i.persons BETWEEN 1 AND ? - 1 ORDER BY ALL""",
                        [min_count]).fetchall()
    problems = [f"small cell published: {row}" for row in small]
    missing = con.execute(f"SELECT count(*) FROM indicator_cells i ANTI JOIN published_cells "
                          f"USING ({keys})").fetchall()[0][0]
    if missing:
        problems.append(f"{missing} cells of indicator_cells not in published_cells")
    for dimension in DIMENSIONS if lines else ():
        others = ", ".join(d for d in DIMENSIONS if d != dimension)
        alone = con.execute(f"""
            SELECT indicator, time_period, {others} FROM published_cells
            WHERE {dimension} <> '_Z'
            GROUP BY indicator, frequency, time_period, {others}
            HAVING count(*) FILTER (value IS NULL) = 1 AND count(*) FILTER ({dimension} <> '_T') > 0
            ORDER BY ALL""").fetchall()
        problems += [f"one suppressed cell in the {dimension} line of {row}" for row in alone]
    if lines:  # departures = returns + non-returns: the three cells of a key are a line too
        others = ", ".join(DIMENSIONS)
        alone = con.execute(f"""
            SELECT time_period, {others} FROM published_cells
            WHERE indicator IN ('seasonal_departures', 'seasonal_returns', 'seasonal_non_returns')
            GROUP BY time_period, {others}
            HAVING count(*) FILTER (value IS NULL) = 1 AND count(*) > 1
            ORDER BY ALL""").fetchall()
        problems += [f"one suppressed cell of departures, returns, non-returns at {row}"
                     for row in alone]
    return problems


# --- Fixtures -----------------------------------------------------------------------------------


def two_way(dimension: str, inner: dict[tuple[str, str], int],
            breakdowns: tuple[str, ...]) -> dict[tuple[str, ...], int]:
    """The cells of sex x `dimension` with all margins from its inner counts {(sex, category):
    n}, keyed by DIMENSIONS values: '_T' in the indicator's other breakdowns, '_Z' elsewhere."""
    sums: Counter[tuple[str, str]] = Counter()
    for (sex, category), n in inner.items():
        for s in (sex, "_T"):
            for c in (category, "_T"):
                sums[(s, c)] += n
    cells = {}
    for (sex, category), n in sums.items():
        other = {d: category if d == dimension else "_T" if d in breakdowns else "_Z"
                 for d in CLASSIFICATIONS}
        cells[(sex, *other.values())] = n
    return cells


def tables(*parts: dict[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
    """Tables of one indicator merged: a cell they share (a sex margin) appears once."""
    merged: dict[tuple[str, ...], int] = {}
    for part in parts:
        for key, n in part.items():
            assert merged.setdefault(key, n) == n, f"tables disagree on {key}"
    return merged


def load(con: duckdb.DuckDBPyConnection, indicator: str, period: str,
         cells: dict[tuple[str, ...], int], frequency: str = "A",
         keys: dict[tuple[str, ...], float] | None = None) -> None:
    """Insert the cells into indicator_cells (created if need be); cell keys from `keys`, else
    a fixed function of the count."""
    con.execute(f"CREATE TABLE IF NOT EXISTS indicator_cells ({CELLS_SCHEMA})")
    rows = [(indicator, frequency, period, *key, n,
             (keys or {}).get(key, (n * 0.6180339887) % 1)) for key, n in cells.items()]
    con.executemany(f"INSERT INTO indicator_cells VALUES ({', '.join(['?'] * 12)})", rows)


def cell(sex: str, **breakdown: str) -> tuple[str, ...]:
    """A cell key: sex, the given classifications, '_T' in `totals` and '_Z' elsewhere."""
    totals = breakdown.pop("totals", "")
    return (sex, *(breakdown.get(d, "_T" if d in totals else "_Z") for d in CLASSIFICATIONS))


def published(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, ...], tuple]:
    """published_cells as {dimension values: (value, status, protection)}."""
    rows = con.execute(f"SELECT {', '.join(DIMENSIONS)}, value, status, protection "
                       "FROM published_cells").fetchall()
    return {row[:7]: row[7:] for row in rows}


def hidden(con: duckdb.DuckDBPyConnection, protection: str) -> set[tuple[str, ...]]:
    return {k for k, (_, _, p) in published(con).items() if p == protection}


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


# --- Suppression --------------------------------------------------------------------------------

#          15-24  25-34  35-44 | _T
#   M          3     20     15 | 38
#   F         12     25      8 | 45
#   _T        15     45     23 | 83
AGE_TABLE = {("M", "15-24"): 3, ("M", "25-34"): 20, ("M", "35-44"): 15,
             ("F", "15-24"): 12, ("F", "25-34"): 25, ("F", "35-44"): 8}


def age(sex: str, group: str) -> tuple[str, ...]:
    return cell(sex, age_group=group)


def test_primary_and_secondary_suppression_of_a_2x3_table(con):
    load(con, "inflow_for_work", "2023", two_way("age_group", AGE_TABLE, ("age_group",)))
    summary = apply_disclosure(con, SUPPRESSION)
    # 3 and 8 are under 10. The 15-24 column then shows one hidden cell: its smallest other
    # category, F 12, goes too; the 35-44 column hides M 15. Rows M and F now hide two each.
    assert hidden(con, "primary") == {age("M", "15-24"), age("F", "35-44")}
    assert hidden(con, "secondary") == {age("F", "15-24"), age("M", "35-44")}
    cells = published(con)
    assert cells[age("_T", "15-24")] == (15, "A", "none")
    assert cells[age("M", "15-24")] == (None, "C", "primary")
    assert cells[age("M", "_T")] == (38, "A", "none")
    assert summary == {"cells": 12, "published": 8, "primary": 2, "secondary": 2, "rounded": 0}
    assert protection_problems(con, 10) == []
    # the checker finds lone suppressions: show F/15-24 again, and M/15-24 is 15 - 12, F/35-44
    # 45 - 12 - 25
    con.execute("UPDATE published_cells SET value = 12, status = 'A' "
                "WHERE sex = 'F' AND age_group = '15-24'")
    assert protection_problems(con, 10) == [
        "one suppressed cell in the sex line of ('inflow_for_work', '2023', '15-24', '_Z', "
        "'_Z', '_Z', '_Z', '_Z')",
        "one suppressed cell in the age_group line of ('inflow_for_work', '2023', 'F', '_Z', "
        "'_Z', '_Z', '_Z', '_Z')"]


@pytest.mark.parametrize("key_25_34, key_35_44", [(0.1, 0.9), (0.9, 0.1)])
def test_a_tie_is_broken_by_codes_not_by_cell_keys(con, key_25_34: float, key_35_44: float):
    #          15-24  25-34  35-44 | _T
    #   M          3     12     12 | 27
    #   F         20     20     20 | 60
    # M 15-24 is hidden; its column then hides F 15-24. Row M must hide one of two 12s: the
    # codes pick 25-34 (before 35-44) whatever the random cell keys, so two runs on the same
    # records hide the same cells. Column 25-34 then hides F 25-34.
    inner = {("M", "15-24"): 3, ("M", "25-34"): 12, ("M", "35-44"): 12,
             ("F", "15-24"): 20, ("F", "25-34"): 20, ("F", "35-44"): 20}
    cells = two_way("age_group", inner, ("age_group",))
    keys = {key: {"25-34": key_25_34, "35-44": key_35_44}.get(key[1], 0.5) for key in cells}
    load(con, "inflow_for_work", "2023", cells, keys=keys)
    apply_disclosure(con, SUPPRESSION)
    assert hidden(con, "primary") == {age("M", "15-24")}
    assert hidden(con, "secondary") == {age("F", "15-24"), age("M", "25-34"),
                                        age("F", "25-34")}


def test_a_line_with_one_category_hides_its_total(con):
    #          SEN  ESP | _T
    #   M        5   30 | 35
    #   F       12    - | 12     (F in one category: F/_T is F/SEN; ESP too: _T/ESP is M/ESP)
    #   _T      17   30 | 47
    inner = {("M", "SEN"): 5, ("M", "ESP"): 30, ("F", "SEN"): 12}
    load(con, "seasonal_departures", "2023", two_way("destination", inner, ("destination",)))
    apply_disclosure(con, SUPPRESSION)

    def dest(sex: str, country: str) -> tuple[str, ...]:
        return cell(sex, destination=country)

    # M/SEN 5 hidden; column SEN hides F/SEN 12, so row F hides its total F/_T 12 (its only
    # other cell) although it is not small; row M hides M/ESP 30, so column ESP its total 30.
    # Then the sex margin hides M/_T and the total row _T/SEN: only the grand total is left.
    assert hidden(con, "primary") == {dest("M", "SEN")}
    assert hidden(con, "secondary") == {dest("F", "SEN"), dest("F", "_T"), dest("M", "ESP"),
                                        dest("_T", "ESP"), dest("M", "_T"), dest("_T", "SEN")}
    assert published(con)[dest("_T", "_T")] == (47, "A", "none")
    assert protection_problems(con, 10) == []


def test_a_cell_shared_by_two_tables_is_decided_once(con):
    #   age:  15-24 25-34 | _T        citizenship:  SEN ESP | _T
    #   M        20    30 | 50                M      28  22 | 50
    #   F         3     5 |  8                F       8   - |  8
    #   _T       23    35 | 58                _T     36  22 | 58
    both = ("age_group", "citizenship")
    ages = two_way("age_group", {("M", "15-24"): 20, ("M", "25-34"): 30,
                                 ("F", "15-24"): 3, ("F", "25-34"): 5}, both)
    cits = two_way("citizenship", {("M", "SEN"): 28, ("M", "ESP"): 22, ("F", "SEN"): 8}, both)
    load(con, "inflow_for_work", "2023", tables(ages, cits))
    summary = apply_disclosure(con, SUPPRESSION)
    m_total = cell("M", totals=both)
    # The sex margin (M, _T, _T) is one cell of both tables: hidden once (the margin line
    # M 50, F 8*, _T 58), it makes the citizenship row M hide M/SEN, not M/ESP, too.
    assert con.execute("SELECT count(*) FROM published_cells WHERE sex = 'M' AND "
                       "age_group = '_T' AND citizenship = '_T'").fetchall() == [(1,)]
    assert hidden(con, "primary") == {cell("F", age_group="15-24", totals=both),
                                      cell("F", age_group="25-34", totals=both),
                                      cell("F", citizenship="SEN", totals=both),
                                      cell("F", totals=both)}
    assert hidden(con, "secondary") == {cell("M", age_group="15-24", totals=both),
                                        cell("M", age_group="25-34", totals=both),
                                        cell("M", citizenship="SEN", totals=both), m_total}
    assert published(con)[cell("M", citizenship="ESP", totals=both)] == (22, "A", "none")
    assert summary["cells"] == 14
    assert protection_problems(con, 10) == []


SEASONAL = DisclosureRules.model_validate({"version": 1, "suppression": {"relations": [
    {"total": "seasonal_departures", "parts": ["seasonal_returns", "seasonal_non_returns"]}]}})


def load_seasonal(con: duckdb.DuckDBPyConnection) -> None:
    """Departures = returns + non-returns, by sex: M 12 = 10 + 2, F 8 = 5 + 3, _T 20 = 15 + 5."""
    for indicator, by_sex in (("seasonal_departures", (12, 8)), ("seasonal_returns", (10, 5)),
                              ("seasonal_non_returns", (2, 3))):
        m, f = by_sex
        load(con, indicator, "2024", {cell("M"): m, cell("F"): f, cell("_T"): m + f})


def test_indicators_that_add_up_are_protected_together(con):
    # Alone, each table hides its F and then its M cell (a line of one hidden cell), and
    # non-returns hide all three: departures _T 20 and returns _T 15 are published, so the
    # hidden non-return total is 20 - 15 = 5. Together, the line (returns _T, non-returns _T |
    # departures _T) has one hidden cell, so its smallest shown part, returns _T 15, goes too.
    load_seasonal(con)
    apply_disclosure(con, SUPPRESSION)
    rows = con.execute("SELECT indicator, sex, value, protection FROM published_cells "
                       "WHERE value IS NOT NULL ORDER BY ALL").fetchall()
    assert rows == [("seasonal_departures", "_T", 20, "none"),
                    ("seasonal_returns", "_T", 15, "none")]
    apply_disclosure(con, SEASONAL)
    rows = con.execute("SELECT indicator, sex, value, protection FROM published_cells "
                       "ORDER BY ALL").fetchall()
    assert rows == [
        ("seasonal_departures", "F", None, "primary"), ("seasonal_departures", "M", None,
                                                         "secondary"),
        ("seasonal_departures", "_T", 20, "none"),
        ("seasonal_non_returns", "F", None, "primary"), ("seasonal_non_returns", "M", None,
                                                          "primary"),
        ("seasonal_non_returns", "_T", None, "primary"),
        ("seasonal_returns", "F", None, "primary"), ("seasonal_returns", "M", None, "secondary"),
        ("seasonal_returns", "_T", None, "secondary")]


def test_the_shipped_rules_relate_the_seasonal_indicators():
    relations = load_disclosure_rules().suppression.relations
    assert [(r.total, r.parts) for r in relations] == [
        ("seasonal_departures", ["seasonal_returns", "seasonal_non_returns"])]


def test_indicator_cells_are_left_as_they_were(con):
    load(con, "inflow_for_work", "2023", two_way("age_group", AGE_TABLE, ("age_group",)))
    before = con.execute("SELECT * FROM indicator_cells ORDER BY ALL").fetchall()
    apply_disclosure(con, SUPPRESSION)
    apply_disclosure(con, SUPPRESSION)  # reruns replace published_cells
    assert con.execute("SELECT * FROM indicator_cells ORDER BY ALL").fetchall() == before
    assert con.execute("SELECT count(*) FROM published_cells").fetchall() == [(12,)]


def test_a_margin_that_is_not_the_sum_of_its_line_is_an_input_error(con):
    cells = two_way("age_group", AGE_TABLE, ("age_group",))
    cells[age("M", "_T")] = 39  # 3 + 20 + 15 = 38
    load(con, "inflow_for_work", "2023", cells)
    with pytest.raises(InputError, match=r"indicator_cells: inflow_for_work 2023: total "
                                         r"\(sex=_T, age_group=_T\) is 83 but its sex "
                                         "categories sum to 84"):
        apply_disclosure(con, SUPPRESSION)


AGES = ["15-24", "25-34", "35-44", "45-54", "55-64", "65+"]
COUNTRIES = ["SEN", "MLI", "ESP", "FRA", "GIN"]


def random_persons(con: duckdb.DuckDBPyConnection, seed: int, n: int, period: str) -> None:
    """`n` persons with skewed random sex, age and citizenship and a uniform random key, counted
    into the cells of sex x age and sex x citizenship with all margins."""
    rng = np.random.default_rng(seed)
    persons = pa.table({
        "sex": rng.choice(["M", "F"], n, p=[0.7, 0.3]),
        "age_group": rng.choice(AGES, n, p=[0.3, 0.35, 0.2, 0.1, 0.04, 0.01]),
        "citizenship": rng.choice(COUNTRIES, n, p=[0.5, 0.25, 0.15, 0.07, 0.03]),
        "person_key": rng.random(n)})
    con.execute(f"CREATE TABLE IF NOT EXISTS indicator_cells ({CELLS_SCHEMA})")
    con.register("_persons", persons)
    con.execute("""
        INSERT INTO indicator_cells
        SELECT 'inflow_for_work', 'A', ?, coalesce(sex, '_T'), coalesce(age_group, '_T'),
               coalesce(citizenship, '_T'), '_Z', '_Z', '_Z', '_Z', count(*),
               sum(person_key) - floor(sum(person_key))
        FROM _persons
        GROUP BY GROUPING SETS ((sex, age_group), (age_group), (sex), (),
                                (sex, citizenship), (citizenship))""", [period])
    con.unregister("_persons")


def test_random_tables_leave_no_small_cell_and_no_lone_suppression(con):
    for seed, n in enumerate([40, 120, 300, 800]):
        random_persons(con, seed, n, str(2020 + seed))
    summary = apply_disclosure(con, SUPPRESSION)
    assert summary["primary"] > 0 and summary["secondary"] > 0
    assert protection_problems(con, 10) == []
    exact = con.execute("SELECT count(*) FROM published_cells JOIN indicator_cells USING "
                        f"({', '.join(KEY_COLUMNS)}) WHERE value <> persons").fetchall()
    assert exact == [(0,)]  # what is published is the exact count


# --- Rounding -----------------------------------------------------------------------------------


def test_random_rounding_goes_up_with_probability_rest_over_base():
    # 22 = 4 x 5 + 2: up to 25 when the draw is under 2/5, else down to 20
    assert random_round(22, 5, 0.39) == 25
    assert random_round(22, 5, 0.40) == 20
    assert random_round(20, 5, 0.99) == 20 and random_round(20, 5, 0.0) == 20
    assert random_round(7, 3, 0.33) == 9 and random_round(7, 3, 0.34) == 6
    assert [Rounding().base(n) for n in (6, 18, 19, 99, 100, 999, 1000)] == [3, 3, 5, 5, 10, 10,
                                                                             100]


def test_rounded_table_small_counts_suppressed_values_multiples_of_their_base(con):
    inner = {("M", "15-24"): 4, ("M", "25-34"): 17, ("F", "15-24"): 150, ("F", "25-34"): 1203}
    cells = two_way("age_group", inner, ("age_group",))
    for indicator in ("inflow_for_work", "long_term_arrivals"):  # same persons, same keys
        load(con, indicator, "2023", cells, keys={key: 0.25 for key in cells})
    summary = apply_disclosure(con, ROUNDING)
    # draw 0.25: 17 (rest 2 of base 3) up to 18; 21 (1 of 5) down to 20; 150 stays; 1203
    # (3 of 100) down to 1200; 1353 (53 of 100) up to 1400; 154 (4 of 10) up to 160; 1220
    # (20 of 100) down to 1200; 1374 up to 1400. Margins need not add up: 150 + 1200 < 1400.
    expected = {age("M", "15-24"): None, age("M", "25-34"): 18, age("M", "_T"): 20,
                age("F", "15-24"): 150, age("F", "25-34"): 1200, age("F", "_T"): 1400,
                age("_T", "15-24"): 160, age("_T", "25-34"): 1200, age("_T", "_T"): 1400}
    for indicator in ("inflow_for_work", "long_term_arrivals"):
        rows = con.execute(f"SELECT {', '.join(DIMENSIONS)}, value FROM published_cells "
                           "WHERE indicator = ?", [indicator]).fetchall()
        assert {row[:7]: row[7] for row in rows} == expected
    assert published(con)[age("M", "15-24")] == (None, "C", "primary")
    assert published(con)[age("M", "25-34")] == (18, "A", "rounded")
    assert summary == {"cells": 18, "published": 16, "primary": 2, "secondary": 0, "rounded": 16}
    assert protection_problems(con, 6, lines=False) == []


def test_the_same_cell_key_rounds_the_same_way():
    rules = Rounding()
    draws = np.random.default_rng(7).random(50)
    for persons in (7, 23, 253, 4321):
        once = [round_cell(Cell(persons, float(d)), rules) for d in draws]
        assert once == [round_cell(Cell(persons, float(d)), rules) for d in draws]
        assert len({value for value, _, _ in once}) == 2  # down or up, by the key alone


def test_random_rounding_is_unbiased_over_uniform_keys():
    rng = np.random.default_rng(11)
    persons = rng.integers(6, 1000, 20_000)
    keys = rng.random(20_000)
    rounding = Rounding()
    values = [round_cell(Cell(int(n), float(k)), rounding)[0]
              for n, k in zip(persons, keys, strict=True)]
    assert all(v % rounding.base(int(n)) == 0 for v, n in zip(values, persons, strict=True))
    errors = np.subtract(values, persons)
    # each error is under the base (10 at most here); their mean over 20 000 cells has a
    # standard error of about 0.03
    assert int(np.abs(errors).max()) <= 9
    assert abs(float(errors.mean())) < 0.15


# --- Files --------------------------------------------------------------------------------------


def test_readable_and_sdmx_csv_files(con, tmp_path: Path):
    load(con, "inflow_for_work", "2023", two_way("age_group", AGE_TABLE, ("age_group",)))
    load(con, "stock_migrant_workers", "2023-05", two_way("activity", {("M", "A"): 40,
                                                                       ("F", "C"): 12},
                                                          ("activity",)), frequency="M")
    apply_disclosure(con, SUPPRESSION)
    paths = write_published(con, tmp_path, "MAR", load_sdmx_rules())
    folder = tmp_path / "published"
    assert paths == [folder / "inflow_for_work.csv", folder / "inflow_for_work.sdmx.csv",
                     folder / "stock_migrant_workers.csv",
                     folder / "stock_migrant_workers.sdmx.csv"]
    readable = (folder / "inflow_for_work.csv").read_text(encoding="utf-8").splitlines()
    assert readable[0] == "indicator,frequency,time_period,sex,age_group,value,status"
    assert readable[1] == "inflow_for_work,A,2023,F,15-24,,C"
    assert "inflow_for_work,A,2023,_T,_T,83,A" in readable
    assert len(readable) == 13
    sdmx = (folder / "inflow_for_work.sdmx.csv").read_text(encoding="utf-8").splitlines()
    assert sdmx[0] == ("DATAFLOW,REF_AREA,FREQ,MEASURE,SEX,CLASSIF1,TIME_PERIOD,OBS_VALUE,"
                       "OBS_STATUS")
    assert sdmx[1] == "ILO:DF_MFL_FEMP_NB(1.0),MAR,A,MFL_FEMP_NB,SEX_F,AGE_10YRBANDS_Y15-24,2023,,C"
    assert ("ILO:DF_MFL_FEMP_NB(1.0),MAR,A,MFL_FEMP_NB,SEX_T,AGE_10YRBANDS_TOTAL,2023,83,A"
            in sdmx)
    stock = (folder / "stock_migrant_workers.sdmx.csv").read_text(encoding="utf-8").splitlines()
    # no count under 10: everything is published as it is
    assert stock[1] == "ILO:DF_MST_TEMP_NB(1.0),MAR,M,MST_TEMP_NB,SEX_F,ECO_ISIC4_C,2023-05,12,A"


def test_a_cell_with_no_breakdown_is_written_under_each_total_code(con, tmp_path: Path):
    both = ("age_group", "citizenship")
    load(con, "inflow_for_work", "2023", tables(
        two_way("age_group", {("M", "15-24"): 20, ("F", "15-24"): 30}, both),
        two_way("citizenship", {("M", "SEN"): 20, ("F", "SEN"): 30}, both)))
    apply_disclosure(con, SUPPRESSION)
    write_published(con, tmp_path, "MAR", load_sdmx_rules())
    folder = tmp_path / "published"
    readable = (folder / "inflow_for_work.csv").read_text(encoding="utf-8").splitlines()
    assert readable[0] == ("indicator,frequency,time_period,sex,age_group,citizenship,value,"
                           "status")
    assert "inflow_for_work,A,2023,M,_T,_T,20,A" in readable
    sdmx = (folder / "inflow_for_work.sdmx.csv").read_text(encoding="utf-8").splitlines()
    m_total = [row for row in sdmx if ",SEX_M," in row and "_TOTAL" in row]
    assert m_total == ["ILO:DF_MFL_FEMP_NB(1.0),MAR,A,MFL_FEMP_NB,SEX_M,AGE_10YRBANDS_TOTAL,"
                       "2023,20,A",
                       "ILO:DF_MFL_FEMP_NB(1.0),MAR,A,MFL_FEMP_NB,SEX_M,CIT_TOTAL,2023,20,A"]


def test_an_indicator_without_an_sdmx_code_names_sdmx_yaml(con, tmp_path: Path):
    load(con, "departures_for_work", "2023", two_way("age_group", AGE_TABLE, ("age_group",)))
    apply_disclosure(con, SUPPRESSION)
    with pytest.raises(ConfigError, match=r"rules/sdmx\.yaml: no SDMX code for indicator "
                                          "'departures_for_work'"):
        write_published(con, tmp_path, "MAR", load_sdmx_rules())
    assert not (tmp_path / "published").exists()


# --- Rules files --------------------------------------------------------------------------------


def test_the_rules_files_load_with_the_documented_defaults():
    rules = load_disclosure_rules()
    assert rules.method == "suppression" and rules.suppression.min_count == 10
    assert rules.rounding == Rounding()
    sdmx = load_sdmx_rules()
    assert sdmx.code("age_group", "65+") == "AGE_10YRBANDS_YGE65"
    assert sdmx.code("occupation", "_U") == "OCU_ISCO08_X"
    assert sdmx.code("destination", "ESP") == "DES_ESP"


@pytest.mark.parametrize(("text", "message"), [
    ("version: 1\nsuppression: {min_count: 10, max_count: 5}\n",
     "suppression.max_count: Extra inputs are not permitted"),
    ("version: 1\nsuppression: {min_count: 0}\n", "suppression.min_count: Input should be "
                                                  "greater than or equal to 2"),
    ("version: 1\nmethod: noise\n", "method: Input should be 'suppression' or 'rounding'"),
    ("version: 1\nrounding: {bands: [{below: 19, base: 3}]}\n", "the last has none"),
])
def test_bad_disclosure_rules_name_the_file(tmp_path: Path, text: str, message: str):
    path = tmp_path / "disclosure.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: ") as err:
        load_disclosure_rules(path)
    assert message in str(err.value)
