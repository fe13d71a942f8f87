"""Timeline: person-months, stays, long-term migrations and residence, from linked events.

The rules are data: parameters in rules/residence.yaml, one SQL file a table in
rules/timeline/ (crossings -> stays -> migrations -> person_months). They run over the
person-level tables (persons, border_crossings, employment_months...) in the current schema,
so the same files build the linked timeline and, in evaluation, the true persons' timeline.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from linkage.rulefiles import check_single_select, first_line, parse_header, select_body
from migralink.config import RULES_DIR, format_validation, load_yaml
from migralink.errors import ConfigError

RESIDENCE_RULES = RULES_DIR / "residence.yaml"
TIMELINE_DIR = RULES_DIR / "timeline"
DAYS_PER_MONTH = 365.25 / 12


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MigrationRule(_Strict):
    """Outcomes-based rule: a crossing is a migration when at least `threshold_months` of the
    `window_months` after it are spent on the new side."""

    window_months: int = Field(gt=0, le=60)
    threshold_months: int = Field(gt=0)

    @model_validator(mode="after")
    def _threshold_fits(self) -> MigrationRule:
        if self.threshold_months > self.window_months:
            raise ValueError("threshold_months is longer than window_months")
        return self

    @property
    def window_days(self) -> int:
        return round(self.window_months * DAYS_PER_MONTH)

    @property
    def threshold_days(self) -> int:
        return round(self.threshold_months * DAYS_PER_MONTH)


class TimelineSettings(_Strict):
    present_share: float = Field(0.5, ge=0, lt=1)
    steps: list[str] = Field(min_length=1)


class ResidenceRules(_Strict):
    rule: str
    rules: dict[str, MigrationRule]
    timeline: TimelineSettings

    @model_validator(mode="after")
    def _rule_is_defined(self) -> ResidenceRules:
        if self.rule not in self.rules:
            raise ValueError(f"rule '{self.rule}' is not one of {sorted(self.rules)}")
        return self

    @property
    def active(self) -> MigrationRule:
        return self.rules[self.rule]


def load_residence_rules(path: Path = RESIDENCE_RULES) -> ResidenceRules:
    try:
        return ResidenceRules.model_validate(load_yaml(path) or {})
    except ValidationError as err:
        raise ConfigError(str(path), format_validation(err)) from None


def set_residence_parameters(con: duckdb.DuckDBPyConnection, rules: ResidenceRules) -> None:
    """The DuckDB variables the timeline SQL reads with getvariable()."""
    con.execute("SET VARIABLE window_days = ?::INTEGER", [rules.active.window_days])
    con.execute("SET VARIABLE threshold_days = ?::INTEGER", [rules.active.threshold_days])
    con.execute("SET VARIABLE present_share = ?::DOUBLE", [rules.timeline.present_share])


def build_timeline(con: duckdb.DuckDBPyConnection, rules: ResidenceRules | None = None,
                   folder: Path = TIMELINE_DIR) -> dict[str, int]:
    """Create the timeline tables in the current schema, in the rules' order; their row counts.

    Needs the indicator parameters (period_start, period_end) set already.
    """
    rules = rules or load_residence_rules()
    set_residence_parameters(con, rules)
    counts: dict[str, int] = {}
    for step in rules.timeline.steps:
        file = folder / f"{step}.sql"
        sql = _read_step(file, step)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {step} AS\n{select_body(sql)}")
        except duckdb.Error as err:
            raise ConfigError(str(file), f"SQL fails: {first_line(err)}") from None
        counts[step] = con.execute(f"SELECT count(*) FROM {step}").fetchall()[0][0]
    return counts


def timeline_summary(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """What the timeline had to resolve or assume, for the run summary and quality.json."""
    row = con.execute("""
        SELECT
            (SELECT count(*) FROM crossings WHERE basis = 'declared work'),
            (SELECT count(*) FROM crossings WHERE basis = 'midpoint'),
            (SELECT count(*) FROM person_months WHERE work_while_abroad),
            (SELECT count(*) FROM migrations WHERE migration AND direction = 'in'),
            (SELECT count(*) FROM migrations WHERE migration AND direction = 'out'),
            (SELECT count(*) FROM migrations WHERE migration AND provisional),
            (SELECT count(*) FROM migrations WHERE changes_residence AND censored)
    """).fetchall()[0]
    keys = ("imputed_by_declared_work", "imputed_at_midpoint", "work_while_abroad_months",
            "long_term_arrivals", "long_term_departures", "provisional", "censored")
    return dict(zip(keys, row, strict=True))


def _read_step(file: Path, step: str) -> str:
    if not file.is_file():
        raise ConfigError(str(file), f"timeline step '{step}' has no SQL file")
    text = file.read_text(encoding="utf-8")
    fields = parse_header(file, text, ("table",))
    if fields.get("table") != step:
        raise ConfigError(str(file), f"header must say '-- table: {step}'")
    for key in ("definition", "source"):
        if not fields.get(key):
            raise ConfigError(str(file), f"header has no '-- {key}:' line")
    check_single_select(file, text)
    return text
