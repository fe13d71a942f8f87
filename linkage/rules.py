"""Linkage rules (rules/linkage/*.yaml) as typed objects, and the SQL macros they may use.

Macros keep the rules readable: `dice(bf_given_name) >= 0.8` instead of a sum of popcounts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from migralink.config import format_validation, load_yaml
from migralink.errors import ConfigError
from pseudonymise.spec import CLEAR_SALTS


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BlockingPass(_Rule):
    name: str
    sql: str
    # list columns unnested before the join (splink's arrays_to_explode): the pass then
    # pairs records that share any one element, e.g. a tok_<document>_near token
    explode: list[str] = []


class Level(_Rule):
    label: str
    sql: str | None = None
    null_level: bool = False
    else_: bool = Field(False, alias="else")
    # term-frequency adjustment: the level counts more when the value of this exact token
    # column is rare and less when it is common (u from the value's frequency, not the level's)
    tf: str | None = None
    tf_weight: float = Field(1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _sql_or_else(self) -> Level:
        if (self.sql is None) != self.else_:
            raise ValueError(f"level '{self.label}': give `sql`, or `else: true` (not both)")
        return self


class Comparison(_Rule):
    name: str
    description: str = ""
    levels: list[Level]

    @model_validator(mode="after")
    def _shape(self) -> Comparison:
        if len(self.levels) < 2 or not self.levels[-1].else_:
            raise ValueError(f"comparison '{self.name}': needs levels ending with `else: true`")
        if any(level.else_ for level in self.levels[:-1]):
            raise ValueError(f"comparison '{self.name}': only the last level may be `else`")
        return self


class Training(_Rule):
    deterministic: list[str]
    deterministic_recall: float = Field(0.7, gt=0, le=1)
    u_max_pairs: float = Field(5e6, gt=0)
    seed: int = 1
    em_passes: list[str] = Field(min_length=1)
    # each EM pass on at most about this many pairs (splink samples records, hash-based and
    # deterministic): a pass on birth date alone grows with the square of the population
    em_max_pairs: float | None = Field(1e6, gt=0)


class Threshold(_Rule):
    # fixed: link pairs at or above match_probability; expected_f1: at the threshold of
    # highest expected F1 under the trained model (linkage/quality.py), stated in the run
    choose: Literal["fixed", "expected_f1"] = "fixed"
    match_probability: float = Field(0.9, gt=0, lt=1)
    # pairs scored below this are dropped (they never link, but count in expected recall)
    score_floor: float = Field(0.01, gt=0, lt=1)

    @model_validator(mode="after")
    def _floor_below(self) -> Threshold:
        if self.score_floor > self.match_probability:
            raise ValueError(f"threshold: score_floor {self.score_floor} is above "
                             f"match_probability {self.match_probability}")
        return self


class Budget(_Rule):
    # `link` refuses a plan whose blocking passes make more comparisons (unless --force)
    max_comparisons: float = Field(2e8, gt=0)


DOCUMENT_TYPES = ("national_id", "passport", "permit", "ssn")


class Clustering(_Rule):
    """After the connected components of links: no person holds two different documents of
    one type unless two identities carrying them are linked directly at >= direct_link
    (a renewed passport, a second SSN); oversized clusters are split at split_thresholds."""

    documents: list[Literal["national_id", "passport", "permit", "ssn"]] = list(DOCUMENT_TYPES)
    direct_link: float = Field(0.95, gt=0, lt=1)
    # documents a renewal replaces: two numbers of such a type that one source recorded, each
    # over more than `overlap_days` and together for longer, are two persons'
    replaced: list[Literal["national_id", "passport", "permit", "ssn"]] = []
    overlap_days: int = Field(30, ge=0)
    max_size: int = Field(50, ge=2)
    split_thresholds: list[float] = [0.99, 0.999, 0.9999]

    @model_validator(mode="after")
    def _increasing(self) -> Clustering:
        t = self.split_thresholds
        if any(not 0 < x < 1 for x in t) or any(a >= b for a, b in zip(t, t[1:],
                                                                        strict=False)):
            raise ValueError(f"clustering: split_thresholds {t} must rise, each in (0, 1)")
        return self


class LinkageRules(_Rule):
    version: int
    blocking: list[BlockingPass] = Field(min_length=1)
    comparisons: list[Comparison] = Field(min_length=1)
    training: Training
    threshold: Threshold = Threshold()
    budget: Budget = Budget()
    clustering: Clustering = Clustering()


# Columns a spec may leave out (documents.near off for a type): rules reading them drop out.
OPTIONAL_COLUMN = re.compile(r"^tok_\w+_near$")


def rule_sql(rules: LinkageRules) -> list[tuple[str, str, list[str], bool]]:
    """Every SQL condition of the rules: (what it is, its SQL, extra columns it reads, whether
    it may drop out when it reads an optional column)."""
    out = [(f"blocking pass '{p.name}'", p.sql, list(p.explode), True) for p in rules.blocking]
    out += [(f"comparison '{c.name}', level '{level.label}'", level.sql or "TRUE",
             [level.tf] if level.tf else [], True)
            for c in rules.comparisons for level in c.levels if not level.else_]
    out += [(f"training.{kind} rule '{sql}'", sql, [], False)
            for kind, sqls in (("deterministic", rules.training.deterministic),
                               ("em_passes", rules.training.em_passes)) for sql in sqls]
    return out


def check_columns(rules: LinkageRules, encodings: Encodings, where: str) -> None:
    """Every column the rules read exists in the encoded extracts, or is an optional one
    (OPTIONAL_COLUMN); ConfigError naming the pass, level or training rule and the column
    otherwise, so a misspelt column never silently drops a pass or fails inside splink."""
    if not encodings.columns:
        return
    for what, sql, extra, optional in rule_sql(rules):
        columns = [*encodings.lacks(expand(sql, encodings)), *extra]
        unknown = sorted({c for c in columns if c not in encodings.columns
                          and not (optional and OPTIONAL_COLUMN.match(c))})
        if unknown:
            raise ConfigError(where, f"{what} reads {', '.join(unknown)}: no such column in "
                              "the encoded extracts")


def check_sql(con: duckdb.DuckDBPyConnection, rules: LinkageRules, encodings: Encodings,
              where: str) -> None:
    """Every condition parses and binds against the identities table (DuckDB's EXPLAIN:
    nothing is run); ConfigError naming the pass, level or training rule otherwise. A rule
    left out for an optional column it reads is not checked."""
    for what, sql, _, _ in rule_sql(rules):
        expanded = expand(sql, encodings)
        if encodings.lacks(expanded):
            continue
        try:
            con.execute(f"EXPLAIN SELECT 1 FROM identities l, identities r WHERE {expanded}"
                        ).fetchall()
        except duckdb.Error as err:
            first = str(err).strip().splitlines()[0]
            raise ConfigError(where, f"{what}: not valid SQL ({first})") from None


def load_rules(path: Path) -> LinkageRules:
    try:
        return LinkageRules.model_validate(load_yaml(path))
    except ValidationError as err:
        raise ConfigError(str(path), format_validation(err)) from None


@dataclass(frozen=True)
class Encodings:
    """What the encoded extracts hold, as far as the SQL macros need to know."""

    bloom_words: dict[str, int]  # Bloom field -> number of 64-bit words
    salts: dict[str, str] = field(default_factory=dict)  # Bloom field -> its salt column
    flips: dict[str, int] = field(default_factory=dict)  # Bloom field -> identity flips
    # Bloom field -> median popcount of its plain filters (before flips), from the data
    popcounts: dict[str, float] = field(default_factory=dict)
    # every encoded column; empty when not known (then no rule is checked against it)
    columns: frozenset[str] = frozenset()

    @classmethod
    def of(cls, columns: list[str], spec: dict,
           popcounts: dict[str, float] | None = None) -> Encodings:
        """From the encoded column names, the encoding spec recorded in the manifests and the
        median popcount of each filter field in the data (needed when filters are flipped)."""
        words: dict[str, int] = {}
        for column in columns:
            if column.startswith("bf_") and "_w" in column:
                name = column.rsplit("_w", 1)[0]
                words[name] = words.get(name, 0) + 1
        groups = spec.get("bloom", {})
        salts = {f"bf_{name}": salt_column(group_name, group["salt"])
                 for group_name, group in groups.items()
                 for name in group["fields"] if group.get("salt", "none") != "none"}
        flips = {f"bf_{name}": group["identity_flips"] for group in groups.values()
                 for name in group["fields"] if group.get("identity_flips")}
        plain = {f: unflipped_popcount(p, 64 * words[f], flips.get(f, 0))
                 for f, p in (popcounts or {}).items() if f in words}
        return cls(words, salts, flips, plain, frozenset(columns))

    def lacks(self, sql: str) -> list[str]:
        """Columns an (expanded) rule reads that the extracts do not have, e.g. the
        tok_<document>_near tokens of a spec with `documents.near` off."""
        if not self.columns:
            return []
        return sorted({m.group(2) for m in _SIDE.finditer(sql)} - self.columns)

    def threshold(self, field: str, plain: float) -> float:
        """The Dice bound to use on `field` for a bound written on plain filters: the same
        where filters are not flipped, else the Dice that two flipped filters are expected
        to have when their plain filters have Dice `plain`."""
        flips = self.flips.get(field, 0)
        if not flips:
            return plain
        if field not in self.popcounts:
            raise ConfigError("linkage rules", f"{field}: flipped filters need the data's "
                              "popcount to place Dice bounds")
        return round(flipped_dice(plain, self.popcounts[field], 64 * self.bloom_words[field],
                                  flips), 4)


def flipped_dice(plain: float, popcount: float, bits: int, flips: int) -> float:
    """Expected Dice of two filters of `popcount` bits whose plain Dice is `plain`, after
    each had `flips` bits toggled at independent positions: a toggle on a shared bit loses
    it, one on a bit the other filter alone has gains it, and every toggle moves the
    popcount towards half the filter."""
    common = plain * popcount
    common = common * (1 - 2 * flips / bits) + 2 * flips * (popcount - common) / bits
    return common / (popcount + flips * (bits - 2 * popcount) / bits)


def unflipped_popcount(popcount: float, bits: int, flips: int) -> float:
    """The plain popcount behind a flipped filter's (the inverse of flipped_dice's)."""
    return (popcount - flips) / (1 - 2 * flips / bits) if flips else popcount


def salt_column(group: str, salt: str) -> str:
    """Where the hub sees a Bloom group's salt: the coded column itself when it travels in
    clear, else the token the producer adds (pseudonymise/encode.py)."""
    return salt if salt in CLEAR_SALTS else f"tok_salt_{group}"


_SIDE = re.compile(r"\b([lr])\.(\w+)")
_DICE = re.compile(r"dice\(\s*(\w+)\s*(?:,\s*(\w+)\s*)?\)")
_DICE_BOUND = re.compile(r"(dice\(\s*(\w+)\s*(?:,\s*(\w+)\s*)?\))\s*(>=|>)\s*(\d*\.?\d+)")
_NULL = re.compile(r"null\(\s*(\w+)\s*\)")
_SALT = re.compile(r"salt_differs\(\s*(\w+)\s*\)")
NEVER = "FALSE"  # what a macro gives when its condition cannot occur


def common_bits_sql(left: str, right: str, words: int) -> str:
    """|A & B| of two Bloom filters stored as `words` 64-bit words."""
    return " + ".join(f"bit_count(l.{left}_w{w} & r.{right}_w{w})" for w in range(words))


def dice_sql(left: str, right: str, words: int) -> str:
    """Dice coefficient of two Bloom filters stored as `words` 64-bit words plus a popcount
    (a DOUBLE: DuckDB's DECIMAL arithmetic costs more than the bit operations)."""
    return (f"(CAST(2 * ({common_bits_sql(left, right, words)}) AS DOUBLE) / "
            f"nullif(l.{left}_pop + r.{right}_pop, 0))")


def bound_ratio(bound: float) -> Fraction:
    """A Dice bound as the exact fraction its decimal writes (0.8811 -> 8811/10000): the
    integer tests of the SQL and of the numpy kernel (linkage/compare.py) both use it."""
    return Fraction(str(bound))


def dice_bound_sql(left: str, right: str, words: int, op: str, bound: float) -> str:
    """`Dice(A, B) op bound` without a division: 2|A & B| * d op n * (|A| + |B|) for the
    bound n / d as written, in exact integers, so a pair on the bound falls on the same side
    as its decimal says. A comparison level tests several bounds on one Dice: DuckDB computes
    the shared |A & B| once, and the test costs a multiplication (measured by `migralink
    bench compare`)."""
    ratio = bound_ratio(bound)
    common = common_bits_sql(left, right, words)
    return (f"(CAST({common} AS BIGINT) * {2 * ratio.denominator} {op} {ratio.numerator} * "
            f"CAST(nullif(l.{left}_pop + r.{right}_pop, 0) AS BIGINT))")


def expand(sql: str, encodings: Encodings, exact: bool = True) -> str:
    """Replace the dice(), null() and salt_differs() macros with DuckDB SQL; unknown Bloom
    fields are an error. A bound `dice(f) >= t` is on plain filters: on flipped ones it
    becomes the bound they are expected to have (Encodings.threshold). `exact=False` writes
    bounds as the plain DECIMAL division they were before (`migralink bench compare`'s
    baseline)."""
    bloom_words = encodings.bloom_words

    def words_of(left: str, right: str) -> int:
        for name in (left, right):
            if name not in bloom_words:
                raise ConfigError("linkage rules", f"dice({name}): no Bloom filter '{name}' "
                                  f"in the encoded extracts (have {sorted(bloom_words)})")
        if bloom_words[left] != bloom_words[right]:
            raise ConfigError("linkage rules", f"dice({left}, {right}): filters differ in length")
        return bloom_words[left]

    def dice(match: re.Match[str]) -> str:
        left, right = match.group(1), match.group(2) or match.group(1)
        return dice_sql(left, right, words_of(left, right))

    def null(match: re.Match[str]) -> str:
        field = match.group(1)
        column = f"{field}_pop" if field in bloom_words else field
        return f"(l.{column} IS NULL OR r.{column} IS NULL)"

    def salt_differs(match: re.Match[str]) -> str:
        salt = encodings.salts.get(match.group(1))
        return f"(l.{salt} IS DISTINCT FROM r.{salt})" if salt else NEVER

    def bound(match: re.Match[str]) -> str:
        left, right = match.group(2), match.group(3) or match.group(2)
        op, bound = match.group(4), encodings.threshold(left, float(match.group(5)))
        words = words_of(left, right)
        if not exact:  # as the macro wrote it before: a DECIMAL division on every level
            common = common_bits_sql(left, right, words)
            return f"(2.0 * ({common}) / nullif(l.{left}_pop + r.{right}_pop, 0)) {op} {bound}"
        return dice_bound_sql(left, right, words, op, bound)

    sql = _DICE_BOUND.sub(bound, sql)
    return _SALT.sub(salt_differs, _NULL.sub(null, _DICE.sub(dice, sql)))


def as_comparison_sql(sql: str) -> str:
    """splink comparison levels name columns `x_l` / `x_r` where blocking rules use `l.x`."""
    return _SIDE.sub(lambda m: f"{m.group(2)}_{m.group(1)}", sql)
