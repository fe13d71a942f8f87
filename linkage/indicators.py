"""Indicators: run the SQL definitions in rules/indicators/ into the `indicator_cells` table.

Each rules file is one SELECT under a header comment (indicator, frequency, dimensions,
definition, source). It returns the units counted: one row per person and period (`person_id`,
`period`, `sex` and the dimensions its header lists). The runner counts them into two-way
tables, sex by each dimension, with every margin (GROUPING SETS), so margins are exact sums:

    cells: indicator, frequency, time_period, sex, <DIMENSIONS>, persons, cell_key

'_T' marks a total over a dimension, '_U' an unknown value, '_Z' a dimension the indicator
does not break down by. `cell_key` is the fractional part of the sum of the persons' random
keys (the ABS cell-key method): the same persons give the same key in every table, which
disclosure control uses to round consistently. Inputs and outputs are unqualified, so they
follow the connection's search_path.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from linkage.rulefiles import check_single_select, first_line, parse_header, select_body
from migralink.config import RULES_DIR, format_validation
from migralink.errors import ConfigError

INDICATORS_DIR = RULES_DIR / "indicators"

# The breakdowns an indicator may list (besides sex, always there), in output column order.
DIMENSIONS = ("age_group", "citizenship", "activity", "occupation", "destination", "residence")
TOTAL, UNKNOWN, NOT_APPLICABLE = "_T", "_U", "_Z"

Frequency = Literal["monthly", "annual"]
FREQUENCY_CODES = {"monthly": "M", "annual": "A"}
PERIOD_FORMATS = {"monthly": "%Y-%m", "annual": "%Y"}
PERIOD_UNITS = {"monthly": "month", "annual": "year"}

CELLS_TABLE = "indicator_cells"
CELL_COLUMNS = {"indicator": "VARCHAR", "frequency": "VARCHAR", "time_period": "VARCHAR",
                "sex": "VARCHAR", **{dim: "VARCHAR" for dim in DIMENSIONS},
                "persons": "BIGINT", "cell_key": "DOUBLE"}

# DuckDB variables the rules read with getvariable(), and their types.
PARAMETER_TYPES: dict[str, str] = {"country": "VARCHAR", "period_start": "DATE",
                                   "period_end": "DATE"}

SINGLE_LINE_KEYS = ("indicator", "view", "frequency", "dimensions")
# A person's random key is hash(person_id) / 2**64; summed as integers, so the key does not
# depend on the order the units are added in.
_TWO_TO_64 = 2**64
_UNITS_TABLE = "__indicator_units"


class Indicator(BaseModel):
    """One rules file: its header fields and its SQL (the whole file text)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    frequency: Frequency | None = None           # None: a shared view, not an indicator
    dimensions: tuple[str, ...] = ()
    definition: str = Field(min_length=1)
    source: str = Field(min_length=1)
    notes: str = ""
    file: Path
    sql: str

    @property
    def is_view(self) -> bool:
        return self.frequency is None

    @property
    def columns(self) -> list[str]:
        """The columns its SELECT returns (in any order)."""
        return ["person_id", "period", "sex", *self.dimensions]


def set_parameters(
    con: duckdb.DuckDBPyConnection, country: str, period_start: date, period_end: date
) -> None:
    """Set the DuckDB variables the rules read: `country`, `period_start`, `period_end`."""
    if not re.fullmatch(r"[A-Z]{3}", country):
        raise ConfigError("indicator parameters", f"country must be an ISO3 code, not {country!r}")
    if period_start > period_end:
        raise ConfigError("indicator parameters", "period_start is after period_end")
    con.execute("SET VARIABLE country = ?", [country])
    con.execute("SET VARIABLE period_start = ?::DATE", [period_start])
    con.execute("SET VARIABLE period_end = ?::DATE", [period_end])


def read_indicator(file: Path) -> Indicator:
    """Read and validate one rules file: header fields and a single SELECT statement."""
    text = file.read_text(encoding="utf-8")
    fields = parse_header(file, text, SINGLE_LINE_KEYS)
    if "view" in fields:
        if {"indicator", "frequency", "dimensions"} & fields.keys():
            raise ConfigError(str(file), "a '-- view:' file has no indicator, frequency or "
                                         "dimensions")
        fields["indicator"] = fields.pop("view")
    else:
        for key in ("indicator", "frequency"):
            if not fields.get(key):
                raise ConfigError(str(file), f"header has no '-- {key}:' line")
        if fields["frequency"] not in FREQUENCY_CODES:
            raise ConfigError(str(file), f"frequency must be 'monthly' or 'annual', "
                                         f"not {fields['frequency']!r}")
        fields["dimensions"] = _dimensions(file, fields.get("dimensions", ""))
    check_single_select(file, text)
    try:
        return Indicator(name=fields.pop("indicator"), file=file, sql=text, **fields)
    except ValidationError as err:
        raise ConfigError(str(file), format_validation(err)) from None


def load_indicators(folder: Path = INDICATORS_DIR) -> list[Indicator]:
    """Every `*.sql` file in `folder`, sorted by file name, validated; names must be unique."""
    if not folder.is_dir():
        raise ConfigError(str(folder), "indicator folder not found")
    indicators = [read_indicator(file) for file in sorted(folder.glob("*.sql"))]
    if not indicators:
        raise ConfigError(str(folder), "no *.sql indicator files")
    seen: dict[str, Path] = {}
    for ind in indicators:
        if ind.name in seen:
            raise ConfigError(str(ind.file), f"indicator '{ind.name}' is also in {seen[ind.name]}")
        seen[ind.name] = ind.file
    return indicators


def run_indicators(
    con: duckdb.DuckDBPyConnection, folder: Path = INDICATORS_DIR
) -> dict[str, int]:
    """Create the shared views, then count every indicator into a fresh `indicator_cells`.

    Returns the number of cells each indicator wrote. All or nothing: on error, no table changes.
    """
    rules = load_indicators(folder)
    _check_parameters(con)
    con.begin()
    try:
        _create_cells_table(con)
        for view in (r for r in rules if r.is_view):
            _create_view(con, view)
        counts = {ind.name: _run_one(con, ind) for ind in rules if not ind.is_view}
        con.execute(f"DROP TABLE IF EXISTS {_UNITS_TABLE}")
    except BaseException:
        con.rollback()
        raise
    con.commit()
    return counts


def _dimensions(file: Path, text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in DIMENSIONS]
    if unknown:
        raise ConfigError(str(file), f"unknown dimension {unknown[0]!r}; dimensions are "
                                     f"{', '.join(DIMENSIONS)}")
    if len(set(names)) != len(names):
        raise ConfigError(str(file), "a dimension is listed twice")
    return tuple(sorted(names, key=DIMENSIONS.index))


def _check_parameters(con: duckdb.DuckDBPyConnection) -> None:
    for name, expected in PARAMETER_TYPES.items():
        value, kind = con.execute(
            "SELECT getvariable(?) IS NOT NULL, typeof(getvariable(?))", [name, name]
        ).fetchall()[0]
        if not value or kind != expected:
            raise ConfigError(
                "indicator parameters",
                f"variable '{name}' is not set as {expected}: call set_parameters() first",
            )


def _create_cells_table(con: duckdb.DuckDBPyConnection) -> None:
    spec = ", ".join(f"{col} {kind}" for col, kind in CELL_COLUMNS.items())
    con.execute(f"CREATE OR REPLACE TABLE {CELLS_TABLE} ({spec})")


def _create_view(con: duckdb.DuckDBPyConnection, view: Indicator) -> None:
    """A shared view of the indicators, computed once into a temporary table: a view is
    worked out again by every indicator that reads it (migrant_worker_months groups every
    declared month, and two indicators read it)."""
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {view.name} AS\n{select_body(view.sql)}")
    except duckdb.Error as err:
        raise ConfigError(str(view.file), f"SQL fails: {first_line(err)}") from None


def _run_one(con: duckdb.DuckDBPyConnection, ind: Indicator) -> int:
    """Materialise one indicator's units, check them, count them into cells; cells written."""
    try:
        _materialise_units(con, ind)
    except duckdb.Error as err:
        raise ConfigError(str(ind.file), f"SQL fails: {first_line(err)}") from None
    _check_units(con, ind)
    before = con.execute(f"SELECT count(*) FROM {CELLS_TABLE}").fetchall()[0][0]
    con.execute(f"INSERT INTO {CELLS_TABLE} {_cells_sql(ind)}", [ind.name])
    return con.execute(f"SELECT count(*) FROM {CELLS_TABLE}").fetchall()[0][0] - before


def _materialise_units(con: duckdb.DuckDBPyConnection, ind: Indicator) -> None:
    body = select_body(ind.sql)
    returned = con.sql(body).columns
    if sorted(returned) != sorted(ind.columns):
        raise ConfigError(str(ind.file), f"SELECT returns {returned}; with its dimensions it "
                                         f"must return {ind.columns}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_UNITS_TABLE} AS SELECT * FROM (\n{body}) AS u")


def _check_units(con: duckdb.DuckDBPyConnection, ind: Indicator) -> None:
    """One row per person and period, periods aligned to the frequency and in the period."""
    unit = PERIOD_UNITS[ind.frequency]
    repeated, misaligned, outside = con.execute(f"""
        SELECT
            count(*) - count(DISTINCT (person_id, period)),
            count(*) FILTER (WHERE period <> date_trunc('{unit}', period)),
            count(*) FILTER (WHERE period < date_trunc('{unit}', getvariable('period_start'))
                                OR period > getvariable('period_end') OR period IS NULL
                                OR person_id IS NULL)
        FROM {_UNITS_TABLE}
    """).fetchall()[0]
    if repeated:
        raise ConfigError(str(ind.file), f"{repeated} rows repeat a (person_id, period): each "
                                         "person counts once per period")
    if misaligned:
        raise ConfigError(str(ind.file), f"{misaligned} periods are not the first day of a {unit}")
    if outside:
        raise ConfigError(str(ind.file), f"{outside} rows have no person, no period or a "
                                         "period outside the reference period")


def _cells_sql(ind: Indicator) -> str:
    """Two-way tables, sex by each dimension, with all margins, as one GROUPING SETS query."""
    sets = ["(period, sex)", "(period)"]
    for dim in ind.dimensions:
        sets += [f"(period, sex, {dim})", f"(period, {dim})"]
    codes = [_code("sex", True), *(_code(dim, dim in ind.dimensions) for dim in DIMENSIONS)]
    period_format = PERIOD_FORMATS[ind.frequency]
    return f"""
        SELECT ?, '{FREQUENCY_CODES[ind.frequency]}', strftime(period, '{period_format}'),
               {', '.join(codes)},
               count(*),
               (sum(CAST(hash(person_id) AS HUGEINT)) % {_TWO_TO_64}) / {_TWO_TO_64}.0
        FROM {_UNITS_TABLE}
        GROUP BY GROUPING SETS ({', '.join(sets)})
        ORDER BY ALL
    """


def _code(column: str, used: bool) -> str:
    if not used:
        return f"'{NOT_APPLICABLE}'"
    return (f"CASE WHEN grouping({column}) = 1 THEN '{TOTAL}' "
            f"ELSE coalesce(CAST({column} AS VARCHAR), '{UNKNOWN}') END")
