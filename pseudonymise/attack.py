"""Frequency-alignment attack on encoded names: what a hub holding a public list of name
frequencies could re-identify from an encoded extract alone (the privacy officer's simulation).

The attacker counts each distinct encoding of a field (the words of a Bloom filter, or a
token), ranks encodings by count and public names by share, and pairs them rank for rank,
optionally within each value of an attribute the hub sees in clear (`birth_year`).
Nothing here writes a file: guesses and scores stay in memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pseudonymise.normalise import NameKind, NameRules, normalise_name, phonetic_key

RANK, COUNT, GUESS = "rank", "count", "guess"


@dataclass(frozen=True)
class AttackResult:
    """The attacker's guess for every distinct encoding (null beyond the public list)."""

    field: str
    partition: str | None
    columns: list[str]      # the columns that make one encoding
    guesses: pl.DataFrame   # partition (if any), columns, count, rank, guess

    @property
    def groups(self) -> list[str]:
        return [self.partition] if self.partition else []


@dataclass(frozen=True)
class AttackScore:
    """Records and distinct true names, and how many of each the attacker recovered."""

    records: int
    records_recovered: int
    names: int
    names_recovered: int

    @property
    def share_records(self) -> float:
        return self.records_recovered / self.records if self.records else 0.0

    @property
    def share_names(self) -> float:
        return self.names_recovered / self.names if self.names else 0.0


def encoding_columns(encoded: pl.DataFrame, field: str) -> list[str]:
    """The Bloom filter words `bf_<field>_w0..` of a name field, or `field` itself (a token)."""
    pattern = re.compile(rf"bf_{re.escape(field)}_w(\d+)")
    words = sorted((int(m.group(1)), c) for c in encoded.columns if (m := pattern.fullmatch(c)))
    if words:
        return [c for _, c in words]
    if field in encoded.columns:
        return [field]
    raise KeyError(f"no encoding of '{field}' in the extract")


def public_ranking(public: dict[str, float]) -> pl.DataFrame:
    """Public names by share, most common first (ties by name), with their rank from 1."""
    ordered = sorted(public.items(), key=lambda item: (-item[1], item[0]))
    return pl.DataFrame({RANK: list(range(1, len(ordered) + 1)),
                         GUESS: [name for name, _ in ordered]},
                        schema={RANK: pl.UInt32, GUESS: pl.String})


def frequency_attack(encoded: pl.DataFrame, field: str, public: dict[str, float],
                     partition: str | None = None, unit: list[str] | None = None
                     ) -> AttackResult:
    """Pair the i-th most frequent encoding of `field` with the i-th most common public name,
    over the whole extract or within each value of `partition`. Frequencies count rows, or
    distinct values of `unit` (e.g. the identity columns, as the hub collapses records)."""
    columns = encoding_columns(encoded, field)
    groups = [partition] if partition else []
    rows = encoded.filter(pl.col(columns[0]).is_not_null())
    if unit:
        rows = rows.unique(subset=list(dict.fromkeys([*groups, *columns, *unit])))
    counts = rows.select(*groups, *columns).group_by(*groups, *columns).len(COUNT)
    return AttackResult(field, partition, columns, guess(counts, groups, columns, public))


def guess(counts: pl.DataFrame, groups: list[str], columns: list[str],
          public: dict[str, float]) -> pl.DataFrame:
    """The attacker's step: rank encodings by COUNT (within `groups`), pair rank i with the
    i-th most common public name."""
    counts = counts.sort([*groups, COUNT, *columns],  # ties broken by the encoding itself
                         descending=[False] * len(groups) + [True] + [False] * len(columns))
    rank = pl.int_range(1, pl.len() + 1, dtype=pl.UInt32)
    counts = counts.with_columns((rank.over(groups) if groups else rank).alias(RANK))
    return counts.join(public_ranking(public), on=RANK, how="left", maintain_order="left")


def recovered(result: AttackResult, encoded: pl.DataFrame, truth: pl.Series) -> pl.Series:
    """Per record of `encoded`: whether the guess equals `truth`, the record's true normalised
    value (row-aligned); null where the record has no encoding or no true value."""
    keys = [*result.groups, *result.columns]
    frame = encoded.select(keys).with_columns(truth.alias("_truth"))
    joined = frame.join(result.guesses.select(*keys, GUESS), on=keys, how="left",
                        nulls_equal=True, maintain_order="left")
    scorable = pl.col(result.columns[0]).is_not_null() & pl.col("_truth").is_not_null()
    hit = (pl.col(GUESS) == pl.col("_truth")).fill_null(False)
    return joined.select(pl.when(scorable).then(hit).alias("recovered")).to_series()


def score_hits(hits: pl.Series, truth: pl.Series) -> AttackScore:
    """Counts of records and distinct true values, and of those recovered (`recovered`)."""
    frame = pl.DataFrame({"hit": hits, "truth": truth}).drop_nulls("hit")
    counts = frame.select(
        records=pl.len(),
        records_recovered=pl.col("hit").sum(),
        names=pl.col("truth").n_unique(),
        names_recovered=pl.col("truth").filter(pl.col("hit")).n_unique(),
    ).row(0, named=True)
    return AttackScore(**{k: int(v) for k, v in counts.items()})


def score_attack(result: AttackResult, encoded: pl.DataFrame, truth: pl.Series) -> AttackScore:
    """Share of records (and of distinct true values) the attacker recovered; `truth` is the
    true normalised value of each encoded record, row-aligned; records without one don't count."""
    return score_hits(recovered(result, encoded, truth), truth)


def _regrouped(shares: Iterable[tuple[str, float]], key: Callable[[str], str | None]
               ) -> dict[str, float]:
    """Shares summed under `key` of each name (names whose key is None left out)."""
    out: dict[str, float] = {}
    for name, share in shares:
        if (group := key(name)) is not None:
            out[group] = out.get(group, 0.0) + share
    return out


def load_public(path: Path, kind: NameKind, rules: NameRules | None = None) -> dict[str, float]:
    """A public frequency list (CSV `name,share`, `#` comments) with names normalised the way
    producers normalise them; spellings of one name add up."""
    table = pl.read_csv(path, comment_prefix="#", schema={"name": pl.String, "share": pl.Float64})
    return _regrouped(table.iter_rows(), lambda name: normalise_name(name, kind, rules))


def by_phonetic_key(public: dict[str, float], length: int,
                    rules: NameRules | None = None) -> dict[str, float]:
    """Shares of phonetic keys (what the blocking tokens combine): shares of names add up."""
    return _regrouped(public.items(), lambda name: phonetic_key(name, length, rules))
