"""Disclosure control: the exact counts of `indicator_cells` -> `published_cells` -> the files.

`apply_disclosure` protects every table per indicator and period by the method of
rules/disclosure.yaml (cell suppression with secondary suppression, or graduated random
rounding), into `published_cells`; `indicator_cells` is left as it is (it stays in
outputs.duckdb for the secure environment). `write_published` writes out/published/: per
indicator a readable CSV and an SDMX-CSV file with the codes of rules/sdmx.yaml. Only those
files are meant to leave the secure environment. Tables are unqualified: they follow the
connection's search_path.

A *line* is the set of cells that differ in one dimension only, plus the cell with '_T' in that
dimension (their total): a row or a column of a table, or a margin.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from migralink.config import RULES_DIR, format_validation, load_yaml
from migralink.errors import ConfigError, InputError

DISCLOSURE_RULES = RULES_DIR / "disclosure.yaml"
SDMX_RULES = RULES_DIR / "sdmx.yaml"

DIMENSIONS = ("sex", "age_group", "citizenship", "activity", "occupation", "destination",
              "residence")
CLASSIFICATIONS = DIMENSIONS[1:]  # at most one of them broken down in a cell (two-way tables)
PERIOD_COLUMNS = ("indicator", "frequency", "time_period")
KEY_COLUMNS = (*PERIOD_COLUMNS, *DIMENSIONS)
TOTAL, UNKNOWN, NOT_APPLICABLE = "_T", "_U", "_Z"

# published_cells.status, SDMX OBS_STATUS-like: A normal value, C confidential (suppressed)
NORMAL, CONFIDENTIAL = "A", "C"
# published_cells.protection: what was done to the cell. Internal: it tells a small cell from
# one hidden to protect another, so it never goes into the published files.
EXACT, PRIMARY, SECONDARY, ROUNDED = "none", "primary", "secondary", "rounded"

SOURCE_TABLE, PUBLISHED_TABLE = "indicator_cells", "published_cells"
_ARROW_VIEW = "_published_arrow"

Key = tuple[str, ...]  # a cell's DIMENSIONS values, in that order
Period = tuple[str, str, str]  # indicator, frequency, time_period


# --- Rules ------------------------------------------------------------------------------------


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Relation(_Rules):
    """Indicators that add up cell by cell: `total` = the sum of `parts`, same period and
    classification. Each cell of `total` and its parts make one more line to protect."""
    total: str
    parts: list[str] = Field(min_length=2)


class Suppression(_Rules):
    min_count: int = Field(10, ge=2)
    relations: list[Relation] = []


class Band(_Rules):
    below: int | None = Field(None, gt=0)
    base: int = Field(ge=1)


class Rounding(_Rules):
    suppress_below: int = Field(6, ge=1)
    bands: list[Band] = [Band(below=19, base=3), Band(below=100, base=5),
                         Band(below=1000, base=10), Band(base=100)]

    @model_validator(mode="after")
    def _bands_rise(self) -> Rounding:
        limits = [band.below for band in self.bands]
        if not limits or limits[-1] is not None or None in limits[:-1]:
            raise ValueError("bands: every band but the last needs `below`; the last has none")
        if any(a >= b for a, b in zip(limits[:-2], limits[1:-1], strict=True)):
            raise ValueError(f"bands: `below` must rise, not {limits[:-1]}")
        return self

    def base(self, persons: int) -> int:
        """The rounding base of an exact count: that of the first band it is below."""
        return next(b.base for b in self.bands if b.below is None or persons < b.below)


class DisclosureRules(_Rules):
    version: int
    method: Literal["suppression", "rounding"] = "suppression"
    suppression: Suppression = Suppression()
    rounding: Rounding = Rounding()

    def applied(self) -> dict:
        """The method in force and its parameters, for run.json and the report."""
        return {"version": self.version, "method": self.method,
                **getattr(self, self.method).model_dump()}


class Classification(_Rules):
    total: str
    unknown: str
    codes: dict[str, str] = {}
    prefix: str | None = None
    values: str | None = None  # regular expression of the values coded prefix + value

    @model_validator(mode="after")
    def _prefix_with_values(self) -> Classification:
        if (self.prefix is None) != (self.values is None):
            raise ValueError("give `prefix` and `values` together")
        if self.values is not None:
            try:
                re.compile(self.values)
            except re.error as err:
                raise ValueError(f"values: not a regular expression ({err})") from None
        return self

    def code(self, value: str) -> str | None:
        if value == TOTAL:
            return self.total
        if value == UNKNOWN:
            return self.unknown
        if value in self.codes:
            return self.codes[value]
        if self.values is not None and re.fullmatch(self.values, value):
            return f"{self.prefix}{value}"
        return None


class SdmxIndicator(_Rules):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    name: str = Field(min_length=1)


class SdmxRules(_Rules):
    version: int
    agency: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    dataflow_version: str = Field(pattern=r"^\d+(\.\d+)*$")
    not_applicable: str = NOT_APPLICABLE
    classifications: dict[str, Classification]
    indicators: dict[str, SdmxIndicator]
    _file: str = PrivateAttr(str(SDMX_RULES))

    @model_validator(mode="after")
    def _every_dimension(self) -> SdmxRules:
        if set(self.classifications) != set(DIMENSIONS):
            raise ValueError(f"classifications: need exactly {', '.join(DIMENSIONS)}")
        return self

    def indicator(self, name: str) -> SdmxIndicator:
        if name not in self.indicators:
            raise ConfigError(self._file, f"no SDMX code for indicator '{name}': add it under "
                              "`indicators`")
        return self.indicators[name]

    def dataflow(self, name: str) -> str:
        return f"{self.agency}:DF_{self.indicator(name).code}({self.dataflow_version})"

    def code(self, dimension: str, value: str) -> str:
        code = self.classifications[dimension].code(value)
        if code is None:
            raise ConfigError(self._file, f"no SDMX code for {dimension} '{value}': add it "
                              f"under `classifications.{dimension}`")
        return code


def load_disclosure_rules(path: Path = DISCLOSURE_RULES) -> DisclosureRules:
    try:
        return DisclosureRules.model_validate(load_yaml(path))
    except ValidationError as err:
        raise ConfigError(str(path), format_validation(err)) from None


def load_sdmx_rules(path: Path = SDMX_RULES) -> SdmxRules:
    try:
        rules = SdmxRules.model_validate(load_yaml(path))
    except ValidationError as err:
        raise ConfigError(str(path), format_validation(err)) from None
    rules._file = str(path)
    return rules


# --- Protection of one indicator and period ---------------------------------------------------


@dataclass(frozen=True)
class Cell:
    persons: int
    cell_key: float


@dataclass(frozen=True)
class Line:
    dimension: str
    total: Key
    members: tuple[Key, ...]

    @property
    def cells(self) -> tuple[Key, ...]:
        return (*self.members, self.total)


# What a cell shows: (value or None when suppressed, status, protection).
Decision = tuple[int | None, str, str]


def lines_of(cells: dict[Key, Cell], where: str) -> list[Line]:
    """Every line of the tables the cells form, in a fixed order; InputError where a total is
    missing or is not the sum of its line (the contract of indicator_cells)."""
    members: dict[tuple[int, Key], list[Key]] = {}
    for key in cells:
        for i, value in enumerate(key):
            if value not in (TOTAL, NOT_APPLICABLE):
                members.setdefault((i, (*key[:i], TOTAL, *key[i + 1:])), []).append(key)
    lines = [Line(DIMENSIONS[i], total, tuple(sorted(keys)))
             for (i, total), keys in sorted(members.items())]
    for line in lines:
        _check_margin(line, cells, where)
    return lines


def _check_margin(line: Line, cells: dict[Key, Cell], where: str) -> None:
    shown = ", ".join(f"{d}={v}" for d, v in zip(DIMENSIONS, line.total, strict=True)
                      if v != NOT_APPLICABLE)
    if line.total not in cells:
        raise InputError(SOURCE_TABLE, f"{where}: no total cell ({shown}) over {line.dimension}")
    parts = sum(cells[key].persons for key in line.members)
    if parts != cells[line.total].persons:
        raise InputError(SOURCE_TABLE, f"{where}: total ({shown}) is {cells[line.total].persons}"
                         f" but its {line.dimension} categories sum to {parts}")


def suppress(cells: dict[Key, Cell], min_count: int, where: str = "",
             lines: list[Line] | None = None) -> dict[Key, str]:
    """The cells to hide, each with why: `primary` (0 < persons < min_count) or `secondary`
    (so that no line, of `lines` or else of the cells' own tables, has exactly one hidden
    cell)."""
    hidden = {key: PRIMARY for key, cell in cells.items() if 0 < cell.persons < min_count}
    lines = lines_of(cells, where) if lines is None else lines
    changed = bool(hidden)
    while changed:
        changed = False
        for line in lines:
            if sum(key in hidden for key in line.cells) == 1:
                hidden[next_to_hide(line, cells, hidden)] = SECONDARY
                changed = True
    return hidden


def next_to_hide(line: Line, cells: dict[Key, Cell], hidden: dict[Key, str]) -> Key:
    """The line's smallest shown non-zero cell, a category before the total; ties by codes.

    Not by cell key: that follows the random person ids, so two runs on the same records
    would hide different cells."""
    shown = [key for key in line.cells if key not in hidden and cells[key].persons > 0]
    return min(shown, key=lambda k: (k == line.total, cells[k].persons, k))


def random_round(persons: int, base: int, draw: float) -> int:
    """Unbiased random rounding: with r = persons mod base, up to the next multiple of base
    when draw < r / base (probability r / base for a uniform draw), else down."""
    rest = persons % base
    return persons - rest + (base if draw < rest / base else 0)


def round_cell(cell: Cell, rounding: Rounding) -> Decision:
    """Graduated random rounding of one cell, its cell_key as the draw; small counts hidden."""
    if 0 < cell.persons < rounding.suppress_below:
        return None, CONFIDENTIAL, PRIMARY
    return random_round(cell.persons, rounding.base(cell.persons), cell.cell_key), NORMAL, ROUNDED


def protect(cells: dict[Key, Cell], rules: DisclosureRules, where: str = "") -> dict[Key, Decision]:
    """What each cell of one indicator and period shows, by the rules' method."""
    if rules.method == "rounding":
        return {key: round_cell(cell, rules.rounding) for key, cell in cells.items()}
    hidden = suppress(cells, rules.suppression.min_count, where)
    return {key: (None, CONFIDENTIAL, hidden[key]) if key in hidden
            else (cell.persons, NORMAL, EXACT) for key, cell in cells.items()}


# --- Indicators that add up ------------------------------------------------------------------
#
# Seasonal departures are the returns plus the non-returns, cell by cell: a non-return hidden
# in its own table would be a departure minus a return. Related indicators of one period are
# therefore protected together, their keys prefixed by the indicator, with one more line per
# cell of the total: the total indicator's cell and its parts' cells of the same key.

Tables = list[tuple[Period, dict[Key, Cell]]]


def related_groups(tables: Tables, relations: list[Relation]) -> list[Tables]:
    """The tables grouped for protection: those of one relation and one period together, every
    other table alone; in the order of `tables`."""
    group_of: dict[tuple[str, str], int] = {}
    groups: list[Tables] = []
    for table in tables:
        (indicator, _, period), _ = table
        relation = next((i for i, r in enumerate(relations)
                         if indicator in (r.total, *r.parts)), None)
        if relation is None:
            groups.append([table])
            continue
        slot = group_of.setdefault((str(relation), period), len(groups))
        if slot == len(groups):
            groups.append([])
        groups[slot].append(table)
    return groups


def joint_lines(group: Tables, relations: list[Relation]) -> tuple[dict[Key, Cell], list[Line]]:
    """The cells of a group keyed (indicator, *key), the lines of each table and the lines the
    relation adds (not checked as margins: a relation may also hold as 'at least')."""
    cells = {(indicator, *key): cell for (indicator, _, _), table in group
             for key, cell in table.items()}
    lines = [Line(line.dimension, (indicator, *line.total),
                  tuple((indicator, *k) for k in line.members))
             for (indicator, _, period), table in group
             for line in lines_of(table, f"{indicator} {period}")]
    present = {indicator for (indicator, _, _), _ in group}
    for relation in relations:
        if relation.total not in present:
            continue
        total_table = next(t for (i, _, _), t in group if i == relation.total)
        for key in sorted(total_table):
            parts = tuple((p, *key) for p in relation.parts if (p, *key) in cells)
            if parts:  # no part at all: the total alone tells nothing more
                lines.append(Line("indicator", (relation.total, *key), parts))
    return cells, lines


def protect_group(group: Tables, rules: DisclosureRules) -> dict[Key, Decision]:
    """What each cell of a group shows, keyed (indicator, *key)."""
    if rules.method == "rounding" or len(group) == 1:
        return {(indicator, *key): decision for (indicator, _, period), cells in group
                for key, decision in protect(cells, rules, f"{indicator} {period}").items()}
    cells, lines = joint_lines(group, rules.suppression.relations)
    hidden = suppress(cells, rules.suppression.min_count, lines=lines)
    return {key: (None, CONFIDENTIAL, hidden[key]) if key in hidden
            else (cell.persons, NORMAL, EXACT) for key, cell in cells.items()}


# --- Tables -----------------------------------------------------------------------------------


def apply_disclosure(con: duckdb.DuckDBPyConnection, rules: DisclosureRules) -> dict[str, int]:
    """Create `published_cells` from `indicator_cells` (left unchanged), per indicator and
    period, related indicators of a period together (rules: suppression.relations).

    Returns counts of cells: cells, published (with a value), primary and secondary suppressed,
    rounded."""
    rows: list[tuple] = []
    tables = read_cells(con)
    for group in related_groups(tables, rules.suppression.relations):
        decided = protect_group(group, rules)
        for (indicator, frequency, period), cells in group:
            rows += [(indicator, frequency, period, *key, *decided[(indicator, *key)])
                     for key in sorted(cells)]
    rows.sort(key=lambda row: row[:3 + len(DIMENSIONS)])
    _create_published(con, rows)
    protections = [row[-1] for row in rows]
    return {"cells": len(rows), "published": sum(row[-3] is not None for row in rows),
            "primary": protections.count(PRIMARY), "secondary": protections.count(SECONDARY),
            "rounded": protections.count(ROUNDED)}


def read_cells(con: duckdb.DuckDBPyConnection) -> list[tuple[Period, dict[Key, Cell]]]:
    """The cells of indicator_cells per (indicator, frequency, time_period), in that order."""
    columns = ", ".join((*KEY_COLUMNS, "persons", "cell_key"))
    try:
        rows = con.execute(f"SELECT {columns} FROM {SOURCE_TABLE} ORDER BY ALL").fetchall()
    except duckdb.CatalogException:
        raise InputError(SOURCE_TABLE, "no such table: build the indicator cells first") from None
    periods = []
    for period, group in groupby(rows, key=lambda row: row[:3]):
        cells: dict[Key, Cell] = {}
        for row in group:
            key = row[3:-2]
            if key in cells:
                raise InputError(SOURCE_TABLE, f"{period[0]} {period[2]}: cell {key} twice")
            cells[key] = Cell(row[-2], row[-1])
        periods.append((period, cells))
    return periods


def _create_published(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    names = (*KEY_COLUMNS, "value", "status", "protection")
    types = [pa.string()] * len(KEY_COLUMNS) + [pa.int64(), pa.string(), pa.string()]
    table = pa.table({name: pa.array([row[i] for row in rows], kind)
                      for i, (name, kind) in enumerate(zip(names, types, strict=True))})
    con.register(_ARROW_VIEW, table)  # one insert, not one statement per cell
    try:
        con.execute(f"CREATE OR REPLACE TABLE {PUBLISHED_TABLE} AS SELECT * FROM {_ARROW_VIEW}")
    finally:
        con.unregister(_ARROW_VIEW)


# --- Files ------------------------------------------------------------------------------------

SDMX_HEADER = ("DATAFLOW", "REF_AREA", "FREQ", "MEASURE", "SEX", "CLASSIF1", "TIME_PERIOD",
               "OBS_VALUE", "OBS_STATUS")


def write_published(con: duckdb.DuckDBPyConnection, out_dir: Path, country: str,
                    rules: SdmxRules) -> list[Path]:
    """Write out_dir/published/<indicator>.csv (readable) and <indicator>.sdmx.csv (SDMX-CSV)
    from published_cells; every indicator needs its code in `rules` before anything is written."""
    if not re.fullmatch(r"[A-Z]{3}", country):
        raise ConfigError("published tables", f"country must be an ISO3 code, not {country!r}")
    columns = ", ".join((*KEY_COLUMNS, "value", "status"))
    rows = con.execute(f"SELECT {columns} FROM {PUBLISHED_TABLE} ORDER BY ALL").fetchall()
    by_indicator = [(name, list(group)) for name, group in groupby(rows, key=lambda r: r[0])]
    for name, _ in by_indicator:
        rules.indicator(name)
    folder = out_dir / "published"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, group in by_indicator:
        breakdowns = broken_down(group)
        written.append(_write_csv(folder / f"{name}.csv", readable_rows(group, breakdowns)))
        written.append(_write_csv(folder / f"{name}.sdmx.csv",
                                  sdmx_rows(group, breakdowns, country, rules)))
    return written


def broken_down(rows: list[tuple]) -> list[str]:
    """The classifications (besides sex) an indicator has: those not '_Z' in its cells."""
    offset = len(PERIOD_COLUMNS)
    return [d for i, d in enumerate(DIMENSIONS[1:], start=offset + 1)
            if any(row[i] != NOT_APPLICABLE for row in rows)]


def readable_rows(rows: list[tuple], breakdowns: list[str]) -> list[tuple]:
    """Header and rows: indicator, frequency, time_period, sex, the indicator's classifications,
    value (empty when suppressed), status."""
    picked = [KEY_COLUMNS.index(c) for c in (*KEY_COLUMNS[:4], *breakdowns)]
    body = [(*(row[i] for i in picked), _text(row[-2]), row[-1]) for row in rows]
    return [(*KEY_COLUMNS[:4], *breakdowns, "value", "status"), *body]


def sdmx_rows(rows: list[tuple], breakdowns: list[str], country: str,
              rules: SdmxRules) -> list[tuple]:
    """Header and rows of SDMX-CSV (version 1 layout); a cell with no breakdown gets one row
    per classification, under its total code."""
    out: list[tuple] = [SDMX_HEADER]
    for row in rows:
        name, frequency, period = row[:3]
        values = dict(zip(DIMENSIONS, row[3:-2], strict=True))
        head = (rules.dataflow(name), country, frequency, rules.indicator(name).code,
                rules.code("sex", values["sex"]))
        for classif1 in classif1_codes(values, breakdowns, rules, f"{name} {period}"):
            out.append((*head, classif1, period, _text(row[-2]), row[-1]))
    return out


def classif1_codes(values: dict[str, str], breakdowns: list[str], rules: SdmxRules,
                   where: str) -> list[str]:
    """CLASSIF1 of a cell: the code of its one broken-down classification, else the total code
    of each classification the indicator has (or `not_applicable` when it has none)."""
    broken = [d for d in breakdowns if values[d] not in (TOTAL, NOT_APPLICABLE)]
    if len(broken) > 1:
        raise InputError(PUBLISHED_TABLE, f"{where}: a cell broken down by {' and '.join(broken)}"
                         ": published tables are two-way at most (sex and one other)")
    if broken:
        return [rules.code(broken[0], values[broken[0]])]
    return [rules.code(d, TOTAL) for d in breakdowns] or [rules.not_applicable]


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def _write_csv(path: Path, rows: list[tuple]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file, lineterminator="\n").writerows(rows)
    return path
