"""Keyed encodings: HMAC tokens for exact fields, Bloom filters of q-grams for names.

Each encoder works once per distinct value (names, documents and dates repeat a lot in
administrative extracts) and broadcasts the result back to the rows; a column whose values are
mostly distinct is hashed row by row instead, which costs less than the join back. Whole
identities repeat too (a worker declared every month): `IdentityEncoder` encodes each distinct
identity once per job and keeps its encoding across batches.
"""

from __future__ import annotations

import hmac
import operator
from collections.abc import Iterable
from functools import reduce
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
from pseudonymise.spec import CLEAR_SALTS, BloomSpec, EncodingSpec

_SEP = b"\x1f"  # unit separator between salt and q-gram: no q-gram contains it
# Day-months that registries write when only the year is known: weak evidence when they agree.
PLACEHOLDER_DAYS = [(1, 1), (12, 31)]
NAME_TABLE = 1 << 18  # distinct (name, salt) an encoder remembers across batches, per field
# What a record's encoded columns are made of (record_id aside): records that agree on all of
# these get the same encoding, so it is made once per distinct identity.
IDENTITY_COLUMNS = ("given_name", "family_name", "address", "sex", "nationality",
                    "birth_year", "birth_month", "birth_day", *(f"doc_{t}" for t in DOC_TYPES))
# Distinct identities an encoder remembers across batches (about 400 bytes each). A full table
# keeps the identities of the last RECENT_BATCHES batches (so it holds at most that many
# batches and one more): an extract sorted by month meets the same persons a month later.
IDENTITY_TABLE = 1 << 19
RECENT_BATCHES = 2
_KEY = "_id_"  # prefix of the identity columns in the table: the encoding has a birth_year too
_HASH = "_id_hash"


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
        # the date without its year (a birth date keyed with a wrong year still shares it);
        # only with a known year, as the other precisions
        day_month=pl.when(pl.col("birth_year").is_not_null()).then(pl.format("{}-{}", m, d)),
    )


class IdentityEncoder:
    """Canonical identity columns -> the encoded columns the hub receives (encoding.yaml).
    Made once per job, so caches (q-gram positions, normalised names, name keys, whole
    identities) serve every batch."""

    def __init__(self, spec: EncodingSpec, key: ProjectKey, rules: NameRules):
        self.spec, self.key, self.rules = spec, key, rules
        self.bloom = {group: BloomEncoder(key.field_key(f"bloom/{group}"), bloom)
                      for group, bloom in spec.bloom.items()}
        # Names repeat from batch to batch: each distinct (name, salt) is encoded once per job
        # and kept in a table (emptied when it reaches NAME_TABLE rows, to bound memory).
        self.name_tables: dict[str, pl.DataFrame] = {}
        # Identities too (IDENTITY_TABLE): their hash, the identity (_KEY columns) and its
        # encoding; and the hashes of the last batches' identities, which a full table keeps.
        self.identity_table: pl.DataFrame | None = None
        self.recent: list[pl.Series] = []

    def birth_dates(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Per row: the `tok_dob_<precision>` columns, and the texts other encodings combine
        (`year`, `full`, `birth_date_salt`: see date_texts). Dates repeat a lot: all of it is
        made per distinct (year, month, day) and joined back once."""
        parts = rows.select("birth_year", "birth_month", "birth_day")
        distinct = parts.unique()
        strings = _birth_date_strings(distinct)
        table = pl.concat([distinct, date_texts(distinct, strings)], how="horizontal")
        table = table.with_columns(
            tokens(strings[p], self.key.field_key(
                f"dob/{'full' if p == 'full_transposed' else p}")).alias(f"tok_dob_{p}")
            for p in self.spec.tokens.birth_date.precisions)
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
        near = [near_tokens(normalise_documents(rows[f"doc_{t}"]),
                            self.key.field_key(f"doc/{t}/near")).alias(f"tok_{t}_near")
                for t in self.spec.tokens.documents.near]
        return out.select(f"tok_{t}" for t in DOC_TYPES).with_columns(near)

    def name_columns(self, rows: pl.DataFrame, field: str, dates: pl.DataFrame
                     ) -> pl.DataFrame:
        """One name field's normalised value (column `field`), its phonetic key (`key_<field>`)
        and its Bloom filter (`bf_<field>_*`, when a Bloom group encodes it), made per distinct
        (name, salt) and joined back to the rows once: a join per step costs more than the
        steps."""
        group = next((g for g, bloom in self.spec.bloom.items() if field in bloom.fields), None)
        salt = "none" if group is None else self.spec.bloom[group].salt
        salted = salt != "none"
        on = ["raw", "salt"] if salted else ["raw"]
        frame = rows.select(pl.col(field).alias("raw"))
        if salted:
            frame = frame.with_columns(salt_values(rows, dates, salt))
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
        phonetic = pl.Series(f"key_{field}", [phonetic_key(v, length, self.rules)
                                              for v in normalised], dtype=pl.String)
        parts = [distinct, normalised.to_frame(), phonetic.to_frame()]
        if group is not None:
            salts = distinct["salt"] if "salt" in distinct.columns else None
            parts.append(self.bloom[group].encode(normalised, salts, f"bf_{field}"))
        return pl.concat(parts, how="horizontal")

    def identity_hashes(self, dates: pl.DataFrame, names: dict[str, pl.DataFrame]
                        ) -> pl.DataFrame:
        """What is keyed per record from its names and birth date, row by row in one
        parallel pass (the combinations are mostly distinct): each combined blocking token
        (`tok_<name>`, name_keys.combine), the name-set token, and the identity digest of
        each Bloom group that flips bits per identity (`digest_<group>`, hex)."""
        given, family = names["given_name"], names["family_name"]
        inputs = key_parts(dates, given["key_given_name"], family["key_family_name"])
        inputs = inputs.with_columns(
            pl.concat_str([given["given_name"].fill_null(""), family["family_name"].fill_null(""),
                           dates["birth_date_salt"]], separator="\x1f").alias("_identity"))
        hashes = [token_expr(pl.concat_str([pl.col(p) for p in combined], separator="\x1f"),
                             self.key.field_key(f"name_key/{name}")).alias(f"tok_{name}")
                  for name, combined in self.spec.tokens.name_keys.combine.items()]
        if self.spec.tokens.name_set:
            inputs = inputs.with_columns(name_sets(given["given_name"], family["family_name"])
                                         .alias("_name_set"))
            hashes.append(token_expr(pl.col("_name_set"), self.key.field_key("name_set"))
                          .alias("tok_name_set"))
        hashes += [pl.col("_identity").chash.hmac_sha256(
                       key=self.key.field_key(f"bloom/{group}/flips").decode("ascii"))
                   .alias(f"digest_{group}")
                   for group, bloom in self.spec.bloom.items() if bloom.identity_flips]
        return inputs.lazy().select(hashes).collect(engine="streaming")

    @staticmethod
    def identity_flipped(names: dict[str, pl.DataFrame], digests: pl.Series,
                         bloom: BloomSpec) -> dict[str, pl.DataFrame]:
        """The name filters of a Bloom group with `identity_flips` bits flipped per identity
        (both normalised names and the birth date), so persons who share a name differ."""
        out = dict(names)
        for number, field in enumerate(f for f in ("given_name", "family_name")
                                       if f in bloom.fields):
            masks = flip_masks(digests, number, bloom.identity_flips, bloom.words)
            out[field] = flip_filter(names[field], f"bf_{field}", masks)
        return out

    def encode(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Canonical rows -> `record_id` and the encoded columns, in row order. Each distinct
        identity (IDENTITY_COLUMNS) is encoded once per job: taken from the table of earlier
        batches when it is there, else made by `encode_identities` and added."""
        identities = rows.select(pl.col(c).alias(_KEY + c) for c in IDENTITY_COLUMNS)
        return pl.concat([rows.select("record_id"), self.encoded_identities(identities)],
                         how="horizontal")

    def encoded_identities(self, identities: pl.DataFrame) -> pl.DataFrame:
        """The encoded columns of each row of `identities` (the _KEY columns). The table is
        looked up by a 64-bit hash of the identity (one join on a number, not on twelve
        columns) and the identity it holds there compared whole, so a hash two identities
        share costs time, never a wrong encoding."""
        keys = identities.columns
        table = self.identity_table
        if table is not None and table.select(keys).schema != identities.schema:
            self.identity_table, self.recent = None, []  # other column types: start afresh
        hashes = table_hashes(identities)
        self.recent = [*self.recent, hashes[_HASH]][-RECENT_BATCHES:]
        uncached = self._add(identities.filter(~self._in_table(identities, hashes)))
        table = self.identity_table
        encoded = hashes.join(table.drop(keys), on=_HASH, how="left",
                              maintain_order="left").drop(_HASH)
        if uncached.height:  # identities whose hash another one has
            encoded = _patched(identities, encoded, uncached)
        return encoded

    def _in_table(self, identities: pl.DataFrame, hashes: pl.DataFrame) -> pl.Series:
        """Per row: is its identity in the table (its hash there, with the same identity)?"""
        table = self.identity_table
        if table is None:
            return pl.Series(_HASH, [False] * identities.height, dtype=pl.Boolean)
        stored = hashes.join(table.select(_HASH, *identities.columns,
                                          pl.lit(True).alias("_stored")),
                             on=_HASH, how="left", maintain_order="left")
        same = [identities[k].eq_missing(stored[k]) for k in identities.columns]
        return reduce(operator.and_, same, stored["_stored"].fill_null(False))

    def _add(self, misses: pl.DataFrame) -> pl.DataFrame:
        """Encode the distinct identities of `misses` and add them to the table; a full table
        (IDENTITY_TABLE) first keeps only the identities of the last RECENT_BATCHES batches.
        Gives those not added, with their encoded columns: the rare ones whose hash is taken."""
        table = self.identity_table
        if table is not None and misses.is_empty():
            return misses
        new = misses.unique()
        made = pl.concat([new, self.encode_identities(
            new.rename(lambda c: c.removeprefix(_KEY))), table_hashes(new)], how="horizontal")
        free = ~pl.col(_HASH).is_duplicated()
        if table is not None:
            free = free & ~pl.col(_HASH).is_in(table[_HASH].implode())
            if table.height + made.height > IDENTITY_TABLE:
                table = table.filter(pl.col(_HASH).is_in(pl.concat(self.recent).implode()))
        added = made.filter(free)
        self.identity_table = (added if table is None else
                               pl.concat([table, added]) if added.height else table)
        return made.filter(~free).drop(_HASH)

    def encode_identities(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Identity rows (IDENTITY_COLUMNS) -> their encoded columns, row for row."""
        spec, key = self.spec, self.key
        columns: list[pl.Series | pl.DataFrame] = []
        dates = self.birth_dates(rows)
        names = {f: self.name_columns(rows, f, dates) for f in ("given_name", "family_name")}
        hashes = self.identity_hashes(dates, names)
        for group, bloom in spec.bloom.items():
            if bloom.identity_flips and set(bloom.fields) & set(names):
                names = self.identity_flipped(names, hashes[f"digest_{group}"], bloom)
            for field in bloom.fields:
                if field in names:
                    columns.append(names[field].select(cs.starts_with(f"bf_{field}_")))
                else:
                    salts = None if bloom.salt == "none" else salt_values(rows, dates,
                                                                          bloom.salt)
                    columns.append(self.bloom[group].encode(
                        normalise_addresses(rows[field]), salts, f"bf_{field}"))
            if bloom.salt not in ("none", *CLEAR_SALTS):  # the hub needs to see salts agree
                columns.append(tokens(salt_values(rows, dates, bloom.salt).replace("", None),
                                      key.field_key(f"bloom/{group}/salt"))
                               .alias(f"tok_salt_{group}"))
        columns.append(hashes.select(cs.starts_with("tok_")))
        columns.append(dates.select(cs.starts_with("tok_dob_")))
        columns.append(self.document_tokens(rows))
        placeholder = rows.select(placeholder_expr().alias("dob_placeholder"))
        frames = [c.to_frame() if isinstance(c, pl.Series) else c for c in columns]
        return pl.concat(
            [*frames, placeholder,
             rows.select(pl.col("birth_year").cast(pl.Int32), pl.col("sex").cast(pl.String),
                         pl.col("nationality").cast(pl.String))],
            how="horizontal",
        )


def table_hashes(identities: pl.DataFrame) -> pl.DataFrame:
    """A 64-bit hash of each row (column _HASH): where the table of identities is looked up."""
    return identities.select(pl.struct(identities.columns).hash().alias(_HASH))


def _patched(identities: pl.DataFrame, encoded: pl.DataFrame, uncached: pl.DataFrame
             ) -> pl.DataFrame:
    """`encoded` with the rows whose identity is in `uncached` (identities and encoded
    columns) taken from there."""
    keys = identities.columns
    rows = identities.with_row_index("_i").join(uncached, on=keys, how="inner",
                                                nulls_equal=True).select("_i", *encoded.columns)
    kept = encoded.with_row_index("_i").filter(~pl.col("_i").is_in(rows["_i"].implode()))
    return pl.concat([kept, rows]).sort("_i").drop("_i")


def near_tokens(numbers: pl.Series, key: bytes) -> pl.Series:
    """Per normalised number: the tokens of the number and of every number made by leaving
    one character out, in position order. Two numbers share a token when they are one
    substitution, one adjacent transposition, one insertion or one deletion apart (a
    symmetric deletion neighbourhood). Made once per distinct number; null stays null."""
    number = pl.col("number")
    distinct = numbers.drop_nulls().unique().to_frame("number")
    longest = distinct["number"].str.len_chars().max() or 0
    left_out = [pl.when(number.str.len_chars() > max(i, 1))
                .then(number.str.slice(0, i) + number.str.slice(i + 1)) for i in range(longest)]
    table = distinct.lazy().with_columns(
        pl.concat_list([token_expr(v, key) for v in (number, *left_out)])
        .list.drop_nulls().alias("token")).collect(engine="streaming")
    return (numbers.to_frame("number")
            .join(table, on="number", how="left", maintain_order="left")
            .get_column("token").alias(numbers.name))


def placeholder_expr() -> pl.Expr:
    """The day and month are one a registry writes for a year-only date (01-01, 31-12)."""
    return pl.any_horizontal((pl.col("birth_month") == m) & (pl.col("birth_day") == d)
                             for m, d in PLACEHOLDER_DAYS)


def date_texts(dates: pl.DataFrame, strings: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per row of `dates` (birth_year, birth_month, birth_day): the year and full date as
    tokens spell them (`year`, `full`, null when a part is unknown) and the
    `birth_date_salt`: the full date, or the year alone when the day or month is unknown or
    a placeholder, so that 00/00/1970, 01/01/1970 and 31/12/1970 agree ('' when no year)."""
    strings = _birth_date_strings(dates) if strings is None else strings
    real = dates.select(~placeholder_expr().fill_null(False)).to_series()
    year, full = strings["year"], strings["full"]
    salt = pl.select(pl.when(full.is_not_null() & real).then(full).otherwise(year)
                     .fill_null("").alias("birth_date_salt"))
    return pl.concat([strings.select("year", "full"), salt], how="horizontal")


def salt_values(rows: pl.DataFrame, dates: pl.DataFrame, salt: str) -> pl.Series:
    """Each row's salt as text, '' when unknown (`birth_date`: see date_texts)."""
    if salt == "birth_date":
        return dates["birth_date_salt"].alias("salt")
    return rows.select(pl.col(salt).cast(pl.String).fill_null("").alias("salt")).to_series()


def key_parts(dates: pl.DataFrame, given_key: pl.Series, family_key: pl.Series
              ) -> pl.DataFrame:
    """The parts a blocking token may combine (encoding.yaml name_keys.combine), as text;
    null where unknown, which makes the token null."""
    pair = pl.DataFrame({"g": given_key, "f": family_key}).select(
        pl.when(pl.col("g") <= pl.col("f"))
        .then(pl.concat_str(["g", "f"], separator=" "))
        .otherwise(pl.concat_str(["f", "g"], separator=" ")).alias("name_keys"))
    return pl.DataFrame({"birth_date": dates["full"], "birth_year": dates["year"],
                         "given_key": given_key, "family_key": family_key,
                         "name_keys": pair["name_keys"]})


def flip_masks(digests: pl.Series, part: int, flips: int, words: int) -> np.ndarray:
    """Per row, a mask (`words` 64-bit words) with `flips` bits set at positions
    (a + i * b) mod bits, i = 0.., where a and b (made odd) are the 64-bit numbers at hex
    digits 32 * part .. 32 * part + 31 of the row's digest, each taken mod bits. With b odd
    and bits a multiple of 64 the positions of a row are distinct for i < 64."""
    bits = 64 * words
    halves = digests.to_frame("d").select(
        pl.col("d").str.slice(32 * part + 16 * h, 16).str.to_integer(base=16, dtype=pl.UInt64)
        .alias(str(h)) for h in (0, 1)).to_numpy()
    a = (halves[:, 0] % np.uint64(bits)).astype(np.int64)
    b = ((halves[:, 1] | np.uint64(1)) % np.uint64(bits)).astype(np.int64)
    masks = np.zeros(len(digests) * words, dtype=np.uint64)
    first_word = np.arange(len(digests), dtype=np.int64) * words
    for i in range(flips):  # each row once per i: the fancy-indexed OR never collides
        position = (a + i * b) % bits
        masks[first_word + (position >> 6)] |= np.left_shift(
            np.uint64(1), (position & 63).astype(np.uint64))
    return masks.reshape(len(digests), words)


def flip_filter(frame: pl.DataFrame, prefix: str, masks: np.ndarray) -> pl.DataFrame:
    """`frame` with the filter `prefix` XOR-ed with `masks`, popcount redone; a missing
    filter stays missing."""
    columns = [f"{prefix}_w{w}" for w in range(masks.shape[1])]
    flipped = frame.with_columns(pl.col(c).xor(pl.Series(masks[:, w], dtype=pl.UInt64))
                                 for w, c in enumerate(columns))
    popcount = pl.sum_horizontal(pl.col(c).bitwise_count_ones() for c in columns)
    return flipped.with_columns(pl.when(pl.col(columns[0]).is_not_null()).then(popcount)
                                .cast(pl.Int16).alias(f"{prefix}_pop"))
