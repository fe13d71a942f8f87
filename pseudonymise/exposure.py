"""What a frequency attack would recover from an encoded extract, measured by its producer.

Only the producer holds the cleartext needed to score the attack, so `pseudonymise` measures
it while it encodes and writes the figures in the manifest, where the hub's audit reads them.
Per batch it keeps counts of (birth year, encoding, true normalised name); at the end the
attacker of `pseudonymise.attack` ranks encodings by count and pairs them with a public list
of name frequencies, over the whole extract ("pooled") and within each birth year (which the
hub sees in clear). For each name field the attacker tries the Bloom filter as configured,
the same names with hardening switched off (an unhardened filter is one-to-one with the name,
so the name itself stands for it, and no key is needed), and each blocking token that holds
the field's phonetic key (encoding.yaml name_keys.combine), against the public list by key.
Each share comes with what the same attacker recovers with no name encoding at all
(`counts_alone`: each identity a label of its own, ranked by its number of records), so that
a figure can be read against what the hub learns from record counts anyway. Nothing here is
written except the shares.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pseudonymise.attack import GUESS, by_phonetic_key, guess, load_public
from pseudonymise.normalise import NameRules, normalise_name, phonetic_keys
from pseudonymise.spec import NameKeyTokens

NAME_FIELDS = ("given_name", "family_name")
PUBLIC_LISTS = {"given_name": "name_frequencies.csv",
                "family_name": "family_name_frequencies.csv"}
PARTITIONS = {"pooled": [], "within_birth_year": ["birth_year"]}
N, TRUTH = "n", "_truth"
# Distinct (identity, encodings, name) rows a field's tally may hold. Hardened encodings are
# as many as the identities, so a large extract is tallied on a sample of its identities:
# when the tally outgrows this, every other sampled identity is dropped (by its label's
# bits, so all records of an identity are in or out together) and the figures hold for that
# consistent sample; the manifest gives its share.
MAX_TALLY = 400_000
NAME_TABLE = 1 << 18  # distinct names a tally remembers normalised across batches, per field


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


IDENTITY = "_identity"  # a label of the record's identity, in memory only


def identity_labels(rows: pl.DataFrame, names: dict[str, pl.Series]) -> pl.Series:
    """One label per distinct identity (both normalised names and the birth date): what the
    hub sees of a person without any name encoding, the records that share an identity."""
    parts = [names[f].fill_null("") for f in NAME_FIELDS] + [
        rows[c].cast(pl.String).fill_null("") for c in ("birth_year", "birth_month",
                                                        "birth_day")]
    return pl.DataFrame(parts).select(
        pl.concat_str(pl.all(), separator="\x1f").hash().alias(IDENTITY)).to_series()


def key_tokens(combine: dict[str, list[str]], field: str) -> list[str]:
    """The blocking-token columns whose parts include this name field's phonetic key."""
    own = {"given_name": "given_key", "family_name": "family_key"}[field]
    return [f"tok_{name}" for name, parts in combine.items()
            if own in parts or "name_keys" in parts]


class ExposureTally:
    """Counts of encodings against true names, batch by batch; `figures()` at the end."""

    def __init__(self, rules: NameRules, names_dir: Path, name_keys: NameKeyTokens):
        self.rules, self.names_dir, self.name_keys = rules, names_dir, name_keys
        self.parts: dict[str, list[pl.DataFrame]] = {f: [] for f in NAME_FIELDS}
        self.sample_bits = 0  # identities kept: those whose label ends in this many 0 bits
        # names repeat from batch to batch: each is normalised once (raw -> normalised)
        self.name_tables: dict[str, pl.DataFrame] = {}

    def normalised(self, names: pl.Series, field: str) -> pl.Series:
        """`normalise_names` of a batch's names, each distinct name normalised once per job
        (the table keeps at most NAME_TABLE names; when full, only those of this batch)."""
        known = self.name_tables.get(field)
        distinct = names.drop_nulls().unique()
        new = distinct if known is None else distinct.filter(
            ~distinct.is_in(known["raw"].implode()))
        table = pl.DataFrame({"raw": new, "name": [normalise_name(v, field, self.rules)
                                                   for v in new]},
                             schema={"raw": names.dtype, "name": pl.String})
        if known is not None:
            if known.height + table.height > NAME_TABLE:
                known = known.filter(pl.col("raw").is_in(distinct.implode()))
            table = pl.concat([known, table])
        self.name_tables[field] = table
        return (names.to_frame("raw").join(table, on="raw", how="left", maintain_order="left")
                .get_column("name").alias(names.name))

    @staticmethod
    def _filter_words(encoded: pl.DataFrame, field: str) -> list[str]:
        return sorted((c for c in encoded.columns if c.startswith(f"bf_{field}_w")),
                      key=lambda c: int(c.rsplit("_w", 1)[1]))

    def _encodings(self, encoded: pl.DataFrame, field: str) -> list[str]:
        return [*self._filter_words(encoded, field),
                *key_tokens(self.name_keys.combine, field)]

    def _sampled(self) -> pl.Expr:
        return (pl.col(IDENTITY) & ((1 << self.sample_bits) - 1)) == 0

    def add(self, rows: pl.DataFrame, encoded: pl.DataFrame) -> None:
        """One batch: `rows` as parsed (cleartext names), `encoded` what the encoder made."""
        names = {f: self.normalised(rows[f], f) for f in NAME_FIELDS}
        identity = identity_labels(rows, names)
        for field in NAME_FIELDS:
            columns = self._encodings(encoded, field)
            counts = (encoded.select("birth_year", *columns)
                      .with_columns(names[field].alias(TRUTH), identity)
                      .filter(pl.col(TRUTH).is_not_null() & self._sampled())
                      .group_by("birth_year", *columns, IDENTITY, TRUTH).len(N))
            self.parts[field].append(counts)
            if sum(p.height for p in self.parts[field]) > MAX_TALLY:
                self._compact()

    def _compact(self) -> None:
        """Sum each field's counts; halve the sample until every tally fits."""
        for field in NAME_FIELDS:
            self.parts[field] = [self._summed(self.parts[field])] if self.parts[field] else []
        while any(p.height > MAX_TALLY // 2 for parts in self.parts.values() for p in parts):
            self.sample_bits += 1
            self.parts = {f: [p.filter(self._sampled()) for p in parts]
                          for f, parts in self.parts.items()}

    @staticmethod
    def _summed(parts: list[pl.DataFrame]) -> pl.DataFrame:
        frame = pl.concat(parts)
        keys = [c for c in frame.columns if c != N]
        return frame.group_by(keys).agg(pl.col(N).sum())

    @property
    def sample(self) -> float:
        """Share of the identities the figures were measured on."""
        return 1 / (1 << self.sample_bits)

    def figures(self) -> dict:
        """Share of records recovered, per name field, encoding and partition: the filter as
        configured, the same names unhardened, and each blocking token holding the name key."""
        out: dict = {}
        length = self.name_keys.length
        for field in NAME_FIELDS:
            if not self.parts[field]:
                continue
            counts = self._summed(self.parts[field])
            public = load_public(self.names_dir / PUBLIC_LISTS[field], field, self.rules)
            words = self._filter_words(counts, field)
            keyed = counts.with_columns(
                phonetic_keys(counts[TRUTH], length, self.rules).alias("_key_truth"))
            by_key = by_phonetic_key(public, length, self.rules)
            attacks = {"unhardened_filter": (counts, [TRUTH], TRUTH, public)}
            if words:
                attacks = {"filter_as_configured": (counts, words, TRUTH, public), **attacks}
            for column in key_tokens(self.name_keys.combine, field):
                attacks[column] = (keyed, [column], "_key_truth", by_key)
            out[field] = {name: self._shares(*attack) for name, attack in attacks.items()}
        return out

    @staticmethod
    def _shares(frame: pl.DataFrame, columns: list[str], truth: str,
                public: dict[str, float]) -> dict:
        """Recovered share per partition, and what the same attack recovers from the records
        of each identity alone, with no name encoding (`counts_alone`): the hub knows how many
        records an identity has, and that alone lets it guess a common name now and then."""
        frame = frame.filter(pl.col(columns[0]).is_not_null())
        shares: dict = {part: recovered_share(frame, columns, truth, public, groups)
                        for part, groups in PARTITIONS.items()}
        shares["counts_alone"] = {
            part: recovered_share(frame, [IDENTITY], truth, public, groups)
            for part, groups in PARTITIONS.items()}
        return shares
