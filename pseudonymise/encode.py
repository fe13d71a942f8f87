"""Keyed encodings: HMAC tokens for exact fields, Bloom filters of q-grams for names.

Each encoder works once per distinct value (names, documents and dates repeat a lot in
administrative extracts) and broadcasts the result back to the rows; a column whose values are
mostly distinct is hashed row by row instead, which costs less than the join back.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from hashlib import sha256

import numpy as np
import polars as pl
import polars.selectors as cs
import polars_hash  # noqa: F401  (registers the .chash namespace)

from migralink.schema import DOC_TYPES
from pseudonymise.keys import ProjectKey
from pseudonymise.normalise import (
    NameRules,
    document_expr,
    is_ascii,
    normalise_addresses,
    normalise_documents,
    normalise_name,
    phonetic_key,
)
from pseudonymise.spec import BloomSpec, EncodingSpec

_SEP = b"\x1f"  # unit separator between salt and q-gram: no q-gram contains it
# Day-months that registries write when only the year is known: weak evidence when they agree.
PLACEHOLDER_DAYS = [(1, 1), (12, 31)]
NAME_TABLE = 1 << 18  # distinct (name, salt) an encoder remembers across batches, per field


def token(key: bytes, value: str) -> int:
    """HMAC-SHA256 of a value, first 64 bits as an unsigned integer (the reference: `tokens`
    computes the same thing for a whole column at once)."""
    digest = hmac.digest(key, value.encode("utf-8"), sha256)
    return int.from_bytes(digest[:8], "big")


def token_expr(values: pl.Expr, key: bytes) -> pl.Expr:
    """HMAC-SHA256 of each value (compiled, in polars-hash), first 64 bits as UInt64; null
    stays null. Keys are ASCII (`ProjectKey.field_key`): the plugin takes the key as text."""
    digest = values.chash.hmac_sha256(key=key.decode("ascii"))
    return digest.str.slice(0, 16).str.to_integer(base=16, dtype=pl.UInt64)


# From this share of distinct values on, hashing every row costs less than finding the
# distinct values and joining their tokens back (measured crossover: about 0.2).
MOSTLY_DISTINCT = 0.2


def tokens(series: pl.Series, key: bytes) -> pl.Series:
    """Token of every non-null value (UInt64); nulls stay null. Mostly distinct columns are
    hashed row by row, in parallel; repetitive ones once per distinct value."""
    distinct = series.drop_nulls().unique()
    frame = series.to_frame("value").lazy()
    if len(distinct) >= MOSTLY_DISTINCT * len(series):
        hashed = frame.select(token_expr(pl.col("value"), key).alias(series.name))
        return hashed.collect(engine="streaming").to_series()
    table = distinct.to_frame("value").with_columns(token=token_expr(pl.col("value"), key))
    return (series.to_frame("value")
            .join(table, on="value", how="left", maintain_order="left")
            .get_column("token").alias(series.name))


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
        # bit positions per name, rows repeated once at the end: a small array per q-gram
        # for the row numbers cost more than the hashing it follows
        counts, cols = [], []
        for name, salt in zip(names, salts, strict=True):
            positions = [self.positions(gram, salt) for gram in qgrams(name, self.spec.qgram)]
            counts.append(sum(len(p) for p in positions))
            cols += positions
        bits = np.zeros((len(names), self.spec.bits), dtype=bool)
        if cols:
            bits[np.repeat(np.arange(len(names)), counts), np.concatenate(cols)] = True
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
        # a balanced filter comes out of the permutation in Fortran order; view needs C order
        packed = np.ascontiguousarray(np.packbits(bits, axis=1, bitorder="little"))
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
    frame = pl.DataFrame({"given": given, "family": family})
    g, f = pl.col("given"), pl.col("family")
    # Most rows have one word per name: their set is the ordered pair, and list operations on
    # every row cost several times more; the other rows take the general path.
    one_word = pl.all_horizontal((c.str.len_bytes() > 0) & ~c.str.contains(" ", literal=True)
                                 for c in (g, f)).fill_null(False)
    pair = (pl.when(g == f).then(g).when(g < f).then(pl.concat_str([g, f], separator=" "))
            .otherwise(pl.concat_str([f, g], separator=" ")))
    simple = frame.select(one_word.alias("one_word"), pair.alias("name_set"))
    others = (~simple["one_word"]).arg_true()
    words = pl.concat_str([g, f], separator=" ", ignore_nulls=True)
    joined = words.str.split(" ").list.unique().list.sort().list.join(" ")
    rest = frame[others].select(pl.when(joined != "").then(joined)).to_series()
    return simple["name_set"].scatter(others, rest)


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
    Made once per job, so caches (q-gram positions, normalised names, name keys) serve every
    batch."""

    def __init__(self, spec: EncodingSpec, key: ProjectKey, rules: NameRules):
        self.spec, self.key, self.rules = spec, key, rules
        self.bloom = {group: BloomEncoder(key.field_key(f"bloom/{group}"), bloom)
                      for group, bloom in spec.bloom.items()}
        # Names repeat from batch to batch: each distinct (name, salt) is encoded once per job
        # and kept in a table (emptied when it reaches NAME_TABLE rows, to bound memory).
        self.name_tables: dict[str, pl.DataFrame] = {}

    def birth_date_tokens(self, rows: pl.DataFrame) -> pl.DataFrame:
        """`tok_dob_<precision>` columns. Dates repeat a lot: the tokens are made per distinct
        (year, month, day) and joined back once, not once per precision."""
        parts = rows.select("birth_year", "birth_month", "birth_day")
        distinct = parts.unique()
        dates = _birth_date_strings(distinct)
        table = distinct.with_columns(
            tokens(dates[p], self.key.field_key(f"dob/{'full' if p == 'full_transposed' else p}"))
            .alias(f"tok_dob_{p}") for p in self.spec.tokens.birth_date.precisions)
        return parts.join(table, on=parts.columns, how="left", maintain_order="left",
                          nulls_equal=True).drop(parts.columns)

    def document_tokens(self, rows: pl.DataFrame) -> pl.DataFrame:
        """`tok_<document type>` columns. Numbers are mostly distinct: normalised and hashed
        row by row in one parallel pass; the rare non-ASCII numbers are then redone in Python."""
        keys = {t: self.key.field_key(f"doc/{t}") for t in DOC_TYPES}
        out = rows.lazy().select(
            *(token_expr(document_expr(pl.col(f"doc_{t}")), keys[t]).alias(f"tok_{t}")
              for t in DOC_TYPES),
            *(~is_ascii(pl.col(f"doc_{t}")).alias(f"other_{t}") for t in DOC_TYPES),
        ).collect(engine="streaming")
        for t in DOC_TYPES:
            other = out[f"other_{t}"].fill_null(False).arg_true()
            if len(other):
                numbers = normalise_documents(rows[f"doc_{t}"].gather(other))
                out = out.with_columns(out[f"tok_{t}"].scatter(other, tokens(numbers, keys[t])))
        return out.select(f"tok_{t}" for t in DOC_TYPES)

    def name_columns(self, rows: pl.DataFrame, field: str) -> pl.DataFrame:
        """One name field's normalised value (column `field`), its Bloom filter (`bf_<field>_*`,
        when a Bloom group encodes it) and its name-key token, made per distinct (name, salt)
        and joined back to the rows once: a join per step costs more than the steps."""
        group = next((g for g, bloom in self.spec.bloom.items() if field in bloom.fields), None)
        salt = "none" if group is None else self.spec.bloom[group].salt
        salted = salt != "none"
        on = ["raw", "salt"] if salted else ["raw"]
        frame = rows.select(pl.col(field).alias("raw"), *(
            [pl.col(salt).cast(pl.String).fill_null("").alias("salt")] if salted else []))
        known = self.name_tables.get(field)
        distinct = frame.drop_nulls("raw").unique()
        new = distinct if known is None else distinct.join(known, on=on, how="anti")
        table = self.encode_names(new, field, group)
        if known is not None:  # when full, keep only the names this batch needs
            full = known.height + table.height > NAME_TABLE
            table = pl.concat([known.join(distinct, on=on, how="semi") if full else known, table])
        self.name_tables[field] = table
        return frame.join(table, on=on, how="left", maintain_order="left").drop(on)

    def encode_names(self, distinct: pl.DataFrame, field: str, group: str | None,
                     ) -> pl.DataFrame:
        """`distinct` (raw[, salt]) with the name's encoded columns alongside."""
        normalised = pl.Series(field, [normalise_name(v, field, self.rules)
                                       for v in distinct["raw"]], dtype=pl.String)
        length = self.spec.tokens.name_keys.length
        phonetic = pl.Series([phonetic_key(v, length, self.rules) for v in normalised],
                             dtype=pl.String)
        parts = [distinct, normalised.to_frame(),
                 tokens(phonetic, self.key.field_key("name_key")).alias(f"tok_{field}_key")]
        if group is not None:
            salts = distinct["salt"] if "salt" in distinct.columns else None
            parts.append(self.bloom[group].encode(normalised, salts, f"bf_{field}"))
        return pl.concat([p.to_frame() if isinstance(p, pl.Series) else p for p in parts],
                         how="horizontal")

    def encode(self, rows: pl.DataFrame) -> pl.DataFrame:
        spec, key = self.spec, self.key
        columns: list[pl.Series | pl.DataFrame] = []
        names = {f: self.name_columns(rows, f) for f in ("given_name", "family_name")}
        for group, bloom in spec.bloom.items():
            salts = None if bloom.salt == "none" else rows[bloom.salt].cast(pl.String)
            for field in bloom.fields:
                if field in names:
                    columns.append(names[field].select(cs.starts_with(f"bf_{field}_")))
                else:
                    columns.append(self.bloom[group].encode(
                        normalise_addresses(rows[field]), salts, f"bf_{field}"))
        columns += [names[field][f"tok_{field}_key"] for field in names]
        if spec.tokens.name_set:
            columns.append(tokens(name_sets(names["given_name"]["given_name"],
                                            names["family_name"]["family_name"]),
                                  key.field_key("name_set")).alias("tok_name_set"))
        columns.append(self.birth_date_tokens(rows))
        columns.append(self.document_tokens(rows))
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
