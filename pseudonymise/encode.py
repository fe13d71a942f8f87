"""Keyed encodings: HMAC tokens for exact fields, Bloom filters of q-grams for names.

Each encoder works once per distinct value (names, documents and dates repeat a lot in
administrative extracts) and broadcasts the result back to the rows.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from functools import lru_cache
from hashlib import sha256

import duckdb
import numpy as np
import polars as pl

from migralink.schema import DOC_TYPES
from pseudonymise.keys import ProjectKey
from pseudonymise.normalise import (
    NameRules,
    normalise_addresses,
    normalise_documents,
    normalise_names,
    phonetic_keys,
)
from pseudonymise.spec import BloomSpec, EncodingSpec

_SEP = b"\x1f"  # unit separator between salt and q-gram: no q-gram contains it
# Day-months that registries write when only the year is known: weak evidence when they agree.
PLACEHOLDER_DAYS = [(1, 1), (12, 31)]


def token(key: bytes, value: str) -> int:
    """HMAC-SHA256 of a value, first 64 bits as an unsigned integer (the reference: `tokens`
    computes the same thing for a whole column at once)."""
    digest = hmac.digest(key, value.encode("utf-8"), sha256)
    return int.from_bytes(digest[:8], "big")


@lru_cache(maxsize=1)
def _engine() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB: its sha256 runs vectorised on every core."""
    return duckdb.connect()


# HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)) for a key of at most one block (RFC 2104).
_HMAC_SQL = """
    SELECT value, ('0x' || sha256($outer || unhex(sha256($inner || encode(value))))[:16])::UBIGINT
           AS token
    FROM _values
"""


def tokens(series: pl.Series, key: bytes) -> pl.Series:
    """Token of every non-null value (UInt64); nulls stay null. One HMAC per distinct value."""
    if len(key) > 64:
        raise ValueError("HMAC keys longer than one SHA-256 block are not supported")
    block = key.ljust(64, b"\0")
    inner, outer = bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)
    distinct = series.drop_nulls().unique().to_frame("value")
    con = _engine().cursor()
    try:
        con.register("_values", distinct)
        relation = con.sql(_HMAC_SQL, params={"inner": inner, "outer": outer})
        table = pl.from_arrow(relation.to_arrow_table())
    finally:
        con.close()
    return (series.to_frame("value")
            .join(table, on="value", how="left", maintain_order="left")
            .get_column("token").cast(pl.UInt64).alias(series.name))


def qgrams(name: str, q: int) -> list[str]:
    """Distinct q-grams of each word, padded with '_' so first and last letters count."""
    grams: dict[str, None] = {}
    for word in name.split():
        padded = f"_{word}_"
        for i in range(max(len(padded) - q + 1, 1)):
            grams[padded[i : i + q]] = None
    return list(grams)


class BloomEncoder:
    """Field-level Bloom filters: each q-gram sets `hashes_per_qgram` bits chosen by keyed
    double hashing; positions are computed once per (salt, q-gram) and cached.

    Hardening (rules/encoding.yaml): a salt makes one name give another filter in another
    salt group; balancing appends the complement and permutes (every filter then has the
    same popcount); bit flips (BLIP) flip each bit with a probability, from a keyed
    generator seeded by the name, so one name always gives the same filter."""

    def __init__(self, key: bytes, spec: BloomSpec):
        self.key, self.spec = key, spec
        self._positions: dict[tuple[str, str], np.ndarray] = {}
        seed = int.from_bytes(hmac.digest(key, b"balance-permutation", sha256), "big")
        self._permutation = np.random.default_rng(seed).permutation(2 * spec.bits)

    def positions(self, gram: str, salt: str = "") -> np.ndarray:
        cached = self._positions.get((salt, gram))
        if cached is None:
            digest = hmac.digest(self.key, salt.encode() + _SEP + gram.encode("utf-8"), sha256)
            h1 = int.from_bytes(digest[:8], "big")
            h2 = int.from_bytes(digest[8:16], "big") | 1
            k, bits = self.spec.hashes_per_qgram, self.spec.bits
            cached = np.array([(h1 + i * h2) % bits for i in range(k)], dtype=np.int64)
            self._positions[(salt, gram)] = cached
        return cached

    def bit_matrix(self, names: list[str], salts: list[str]) -> np.ndarray:
        """One row of bits (bool) per name: the plain filter, before hardening."""
        rows, cols = [], []
        for row, (name, salt) in enumerate(zip(names, salts, strict=True)):
            for gram in qgrams(name, self.spec.qgram):
                positions = self.positions(gram, salt)
                rows.append(np.full(len(positions), row))
                cols.append(positions)
        bits = np.zeros((len(names), self.spec.bits), dtype=bool)
        if rows:
            bits[np.concatenate(rows), np.concatenate(cols)] = True
        return bits

    def harden(self, bits: np.ndarray, names: list[str], salts: list[str]) -> np.ndarray:
        if self.spec.flip_probability > 0:
            for row, (name, salt) in enumerate(zip(names, salts, strict=True)):
                seed = hmac.digest(self.key, b"flip" + _SEP + salt.encode() + _SEP
                                   + name.encode("utf-8"), sha256)
                rng = np.random.default_rng(int.from_bytes(seed, "big"))
                bits[row] ^= rng.random(self.spec.bits) < self.spec.flip_probability
        if self.spec.balance:
            bits = np.concatenate([bits, ~bits], axis=1)[:, self._permutation]
        return bits

    def words(self, name: str, salt: str = "") -> np.ndarray:
        """The filter of one name as 64-bit words (bit i of word w is position 64*w + i)."""
        return self.encode_matrix([name], [salt])[0]

    def encode_matrix(self, names: list[str], salts: list[str]) -> np.ndarray:
        bits = self.harden(self.bit_matrix(names, salts), names, salts)
        packed = np.packbits(bits, axis=1, bitorder="little")
        return packed.view("<u8").astype(np.uint64).reshape(len(names), self.spec.words)

    def encode(self, names: pl.Series, salts: pl.Series | None, prefix: str) -> pl.DataFrame:
        """Columns `{prefix}_w0..` (UInt64) and `{prefix}_pop` (Int16); null where no name."""
        salts = salts if salts is not None else pl.Series([""] * len(names), dtype=pl.String)
        pairs = pl.DataFrame({"name": names, "salt": salts.fill_null("")})
        distinct = pairs.drop_nulls("name").unique(maintain_order=True)
        matrix = self.encode_matrix(distinct["name"].to_list(), distinct["salt"].to_list())
        popcount = np.bitwise_count(matrix).sum(axis=1).astype(np.int16)
        table = distinct.with_columns(
            *(pl.Series(f"{prefix}_w{w}", matrix[:, w], dtype=pl.UInt64)
              for w in range(self.spec.words)),
            pl.Series(f"{prefix}_pop", popcount, dtype=pl.Int16),
        )
        joined = pairs.join(table, on=["name", "salt"], how="left", maintain_order="left")
        return joined.drop("name", "salt")


def dice(a: Iterable[int], b: Iterable[int]) -> float:
    """Dice coefficient of two filters given as words: 2|A & B| / (|A| + |B|)."""
    a, b = list(a), list(b)
    common = sum(int(x & y).bit_count() for x, y in zip(a, b, strict=True))
    total = sum(int(x).bit_count() for x in a) + sum(int(y).bit_count() for y in b)
    return 2 * common / total if total else 0.0


def name_sets(given: pl.Series, family: pl.Series) -> pl.Series:
    """The words of both names, sorted: 'ali ben' + 'omar' and 'omar' + 'ali ben' agree."""
    words = pl.concat_str(["given", "family"], separator=" ", ignore_nulls=True)
    joined = words.str.split(" ").list.unique().list.sort().list.join(" ")
    frame = pl.DataFrame({"given": given, "family": family})
    return frame.select(pl.when(joined != "").then(joined).alias("name_set")).to_series()


def _birth_date_strings(rows: pl.DataFrame) -> pl.DataFrame:
    y = pl.col("birth_year").cast(pl.String).str.zfill(4)
    m = pl.col("birth_month").cast(pl.String).str.zfill(2)
    d = pl.col("birth_day").cast(pl.String).str.zfill(2)
    # Day and month swapped is a common keying error; only a real date can be swapped.
    swappable = (pl.col("birth_day") <= 12) & (pl.col("birth_day") != pl.col("birth_month"))
    return rows.select(
        year=y,
        year_month=pl.format("{}-{}", y, m),
        full=pl.format("{}-{}-{}", y, m, d),
        full_transposed=pl.when(swappable).then(pl.format("{}-{}-{}", y, d, m)),
    )


class IdentityEncoder:
    """Canonical identity columns -> the encoded columns the hub receives (encoding.yaml).
    Made once per job, so caches (q-gram positions) serve every batch."""

    def __init__(self, spec: EncodingSpec, key: ProjectKey, rules: NameRules):
        self.spec, self.key, self.rules = spec, key, rules
        self.bloom = {group: BloomEncoder(key.field_key(f"bloom/{group}"), bloom)
                      for group, bloom in spec.bloom.items()}

    def encode(self, rows: pl.DataFrame) -> pl.DataFrame:
        spec, key, rules = self.spec, self.key, self.rules
        columns: list[pl.Series | pl.DataFrame] = []
        names = {f: normalise_names(rows[f], f, rules) for f in ("given_name", "family_name")}
        fuzzy = {**names, "address": normalise_addresses(rows["address"])}
        for group, bloom in spec.bloom.items():
            salts = None if bloom.salt == "none" else rows[bloom.salt].cast(pl.String)
            for field in bloom.fields:
                columns.append(self.bloom[group].encode(fuzzy[field], salts, f"bf_{field}"))
        name_key = key.field_key("name_key")
        for field, name in names.items():
            keys = phonetic_keys(name, spec.tokens.name_keys.length, rules)
            columns.append(tokens(keys, name_key).alias(f"tok_{field}_key"))
        if spec.tokens.name_set:
            columns.append(tokens(name_sets(names["given_name"], names["family_name"]),
                                  key.field_key("name_set")).alias("tok_name_set"))
        dates = _birth_date_strings(rows)
        for precision in spec.tokens.birth_date.precisions:
            purpose = "full" if precision == "full_transposed" else precision
            columns.append(tokens(dates[precision], key.field_key(f"dob/{purpose}"))
                           .alias(f"tok_dob_{precision}"))
        for doc_type in DOC_TYPES:
            numbers = normalise_documents(rows[f"doc_{doc_type}"])
            columns.append(tokens(numbers, key.field_key(f"doc/{doc_type}"))
                           .alias(f"tok_{doc_type}"))
        placeholder = rows.select(pl.any_horizontal(
            (pl.col("birth_month") == m) & (pl.col("birth_day") == d) for m, d in PLACEHOLDER_DAYS
        ).alias("dob_placeholder"))
        frames = [c.to_frame() if isinstance(c, pl.Series) else c for c in columns]
        return pl.concat(
            [rows.select("record_id"), *frames, placeholder,
             rows.select(pl.col("birth_year").cast(pl.Int32), pl.col("sex").cast(pl.String),
                         pl.col("nationality").cast(pl.String))],
            how="horizontal",
        )
