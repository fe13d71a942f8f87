"""Keyed encodings: HMAC tokens for exact fields, Bloom filters of q-grams for names.

Each encoder works once per distinct value (names, documents and dates repeat a lot in
administrative extracts) and broadcasts the result back to the rows.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from hashlib import sha256

import numpy as np
import polars as pl

from migralink.schema import DOC_TYPES
from pseudonymise.keys import ProjectKey
from pseudonymise.normalise import (
    NameRules,
    map_distinct,
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
    """HMAC-SHA256 of a value, first 64 bits as a signed integer (fits DuckDB BIGINT)."""
    digest = hmac.digest(key, value.encode("utf-8"), sha256)
    return int.from_bytes(digest[:8], "big", signed=True)


def tokens(series: pl.Series, key: bytes) -> pl.Series:
    """Token of every non-null value; nulls stay null."""
    return map_distinct(series, lambda v: token(key, v), pl.Int64())


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
    double hashing; positions are computed once per (salt, q-gram) and cached."""

    def __init__(self, key: bytes, spec: BloomSpec):
        self.key, self.spec = key, spec
        self._positions: dict[tuple[str, str], np.ndarray] = {}

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

    def words(self, name: str, salt: str = "") -> np.ndarray:
        """The filter of one name as `bits/64` unsigned 64-bit words."""
        bits = np.zeros(self.spec.bits, dtype=bool)
        for gram in qgrams(name, self.spec.qgram):
            bits[self.positions(gram, salt)] = True
        # bit i of word w is filter position 64*w + i
        return np.packbits(bits, bitorder="little").view("<u8").astype(np.uint64)

    def encode(self, names: pl.Series, salts: pl.Series | None, prefix: str) -> pl.DataFrame:
        """Columns `{prefix}_w0..` (UInt64) and `{prefix}_pop` (Int16); null where no name."""
        n_words = self.spec.words
        salts = salts if salts is not None else pl.Series([""] * len(names), dtype=pl.String)
        pairs = pl.DataFrame({"name": names, "salt": salts.fill_null("")})
        distinct = pairs.drop_nulls("name").unique(maintain_order=True)
        matrix = np.zeros((len(distinct), n_words), dtype=np.uint64)
        for row, (name, salt) in enumerate(distinct.iter_rows()):
            matrix[row] = self.words(name, salt)
        popcount = np.bitwise_count(matrix).sum(axis=1).astype(np.int16)
        table = distinct.with_columns(
            *(pl.Series(f"{prefix}_w{w}", matrix[:, w], dtype=pl.UInt64) for w in range(n_words)),
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


def project_tokens(series: pl.Series, key: ProjectKey, purpose: str) -> pl.Series:
    """Tokens under the key derived for one purpose (e.g. 'doc/passport')."""
    return tokens(series, key.field_key(purpose))


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


def encode_identity(rows: pl.DataFrame, spec: EncodingSpec, key: ProjectKey,
                    rules: NameRules) -> pl.DataFrame:
    """Canonical identity columns -> the encoded columns the hub receives (see encoding.yaml)."""
    columns: list[pl.Series | pl.DataFrame] = []
    names = {f: normalise_names(rows[f], f, rules) for f in ("given_name", "family_name")}
    fuzzy = {**names, "address": normalise_addresses(rows["address"])}
    for group, bloom in spec.bloom.items():
        encoder = BloomEncoder(key.field_key(f"bloom/{group}"), bloom)
        salts = rows["birth_year"].cast(pl.String) if bloom.salt == "birth_year" else None
        for field in bloom.fields:
            columns.append(encoder.encode(fuzzy[field], salts, f"bf_{field}"))
    name_key = key.field_key("name_key")
    length = spec.tokens.name_keys.length
    for field, name in names.items():
        keys = phonetic_keys(name, length, rules)
        columns.append(tokens(keys, name_key).alias(f"tok_{field}_key"))
    dates = _birth_date_strings(rows)
    for precision in spec.tokens.birth_date.precisions:
        purpose = "full" if precision == "full_transposed" else precision
        columns.append(
            tokens(dates[precision], key.field_key(f"dob/{purpose}")).alias(f"tok_dob_{precision}")
        )
    for doc_type in DOC_TYPES:
        numbers = normalise_documents(rows[f"doc_{doc_type}"])
        columns.append(tokens(numbers, key.field_key(f"doc/{doc_type}")).alias(f"tok_{doc_type}"))
    placeholder = rows.select(
        pl.any_horizontal(
            (pl.col("birth_month") == m) & (pl.col("birth_day") == d) for m, d in PLACEHOLDER_DAYS
        ).alias("dob_placeholder")
    )
    frames = [c.to_frame() if isinstance(c, pl.Series) else c for c in columns]
    return pl.concat(
        [rows.select("record_id"), *frames, placeholder,
         rows.select("birth_year", "sex", "nationality")],
        how="horizontal",
    )
