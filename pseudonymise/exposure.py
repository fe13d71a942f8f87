"""What a frequency attack would recover from an encoded extract, measured by its producer.

Only the producer holds the cleartext needed to score the attack, so `pseudonymise` measures
it while it encodes and writes the figures in the manifest, where the hub's audit reads them.
Per batch it keeps counts of (birth year, encoding, true normalised name); at the end the
attacker of `pseudonymise.attack` ranks encodings by count and pairs them with a public list
of name frequencies, over the whole extract ("pooled") and within each birth year (which the
hub sees in clear). Three encodings are attacked for each name field: the Bloom filter as
configured, the same names with hardening switched off (an unhardened filter is one-to-one
with the name, so the name itself stands for it, and no key is needed), and the name-key
token. Nothing here is written except the shares.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pseudonymise.attack import GUESS, by_phonetic_key, guess, load_public
from pseudonymise.normalise import NameRules, normalise_names, phonetic_keys

NAME_FIELDS = ("given_name", "family_name")
PUBLIC_LISTS = {"given_name": "name_frequencies.csv",
                "family_name": "family_name_frequencies.csv"}
PARTITIONS = {"pooled": [], "within_birth_year": ["birth_year"]}
N, TRUTH = "n", "_truth"
COMPACT_EVERY = 8  # batches of counts kept before they are summed into one


def recovered_share(counts: pl.DataFrame, columns: list[str], truth: str,
                    public: dict[str, float], groups: list[str]) -> float | None:
    """Share of the records in `counts` (rows: groups, encoding columns, truth, N) whose true
    value the attacker's guess for their encoding equals."""
    total = counts[N].sum()
    if not total:
        return None
    per_encoding = counts.group_by(*groups, *columns).agg(pl.col(N).sum().alias("count"))
    guesses = guess(per_encoding, groups, columns, public).select(*groups, *columns, GUESS)
    hits = counts.join(guesses, on=[*groups, *columns], how="left", nulls_equal=True)
    return round(hits.filter(pl.col(GUESS) == pl.col(truth))[N].sum() / total, 4)


class ExposureTally:
    """Counts of encodings against true names, batch by batch; `figures()` at the end."""

    def __init__(self, rules: NameRules, names_dir: Path, key_length: int):
        self.rules, self.names_dir, self.key_length = rules, names_dir, key_length
        self.parts: dict[str, list[pl.DataFrame]] = {f: [] for f in NAME_FIELDS}

    @staticmethod
    def _filter_words(encoded: pl.DataFrame, field: str) -> list[str]:
        return sorted((c for c in encoded.columns if c.startswith(f"bf_{field}_w")),
                      key=lambda c: int(c.rsplit("_w", 1)[1]))

    def add(self, rows: pl.DataFrame, encoded: pl.DataFrame) -> None:
        """One batch: `rows` as parsed (cleartext names), `encoded` what the encoder made."""
        for field in NAME_FIELDS:
            truth = normalise_names(rows[field], field, self.rules).alias(TRUTH)
            columns = [*self._filter_words(encoded, field), f"tok_{field}_key"]
            counts = (encoded.select("birth_year", *columns).with_columns(truth)
                      .filter(pl.col(TRUTH).is_not_null())
                      .group_by("birth_year", *columns, TRUTH).len(N))
            parts = self.parts[field]
            parts.append(counts)
            if len(parts) >= COMPACT_EVERY:
                self.parts[field] = [self._summed(parts)]

    @staticmethod
    def _summed(parts: list[pl.DataFrame]) -> pl.DataFrame:
        frame = pl.concat(parts)
        keys = [c for c in frame.columns if c != N]
        return frame.group_by(keys).agg(pl.col(N).sum())

    def figures(self) -> dict:
        """Share of records recovered, per name field, encoding and partition."""
        out: dict = {}
        for field in NAME_FIELDS:
            if not self.parts[field]:
                continue
            counts = self._summed(self.parts[field])
            public = load_public(self.names_dir / PUBLIC_LISTS[field], field, self.rules)
            words = self._filter_words(counts, field)
            keyed = counts.with_columns(
                phonetic_keys(counts[TRUTH], self.key_length, self.rules).alias("_key_truth"))
            attacks = {
                "unhardened_filter": (counts, [TRUTH], TRUTH, public),
                "name_key_token": (keyed, [f"tok_{field}_key"], "_key_truth",
                                   by_phonetic_key(public, self.key_length, self.rules)),
            }
            if words:
                attacks = {"filter_as_configured": (counts, words, TRUTH, public), **attacks}
            out[field] = {
                name: {part: recovered_share(frame, columns, truth, pub, groups)
                       for part, groups in PARTITIONS.items()}
                for name, (frame, columns, truth, pub) in attacks.items()
            }
        return out
