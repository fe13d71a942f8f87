"""Encoding throughput: the production `IdentityEncoder` against a plain per-record encoder.

Records are shaped like `pseudonymise.validate.parse(...).rows` and drawn with numpy from the
synthetic name pools (Zipf-like repetition, variant spellings and typos), birth dates over
1950-2005 (some year-only) and two document numbers unique per record. Only the encoding is
timed, never the generation.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from hashlib import sha256
from typing import Any

import numpy as np
import polars as pl

from benchmarks.synth.documents import CNIE_PREFIXES
from benchmarks.synth.draws import Stream, zipf_weights
from benchmarks.synth.names import NATIONALITY_ORIGIN, ORIGINS, style, typo, variants
from benchmarks.synth.population import FAMILY_ZIPF, GIVEN_ZIPF
from migralink.config import RULES_DIR
from migralink.schema import DOC_TYPES
from pseudonymise.encode import _SEP, IdentityEncoder, qgrams, token
from pseudonymise.keys import ProjectKey
from pseudonymise.normalise import (
    NameRules,
    fold_address,
    normalise_document,
    normalise_name,
    phonetic_key,
)
from pseudonymise.read import BATCH_ROWS
from pseudonymise.spec import CLEAR_SALTS, BloomSpec, EncodingSpec, load_spec

BENCH_KEY = ProjectKey(b"migralink-benchmark-key-32-bytes")
REFERENCE_RECORDS = 20_000
YEAR_ONLY = 0.06         # share of year-only birth dates (a third of them written 01-01)
NOISE = (0.85, 0.95)     # cumulative shares: plain spellings, then variants; the rest typos
TYPOS_PER_NAME = 3       # fixed typos per pool name: distinct values stay bounded, as in life
DOC_MODULUS = 10**8      # document digits: (i * a + b) mod 10^8 is a bijection on [0, 10^8)
FIRST_BIRTH, LAST_BIRTH = np.datetime64("1950-01-01"), np.datetime64("2005-12-31")
ORIGIN_SHARE = {"maghreb": 0.5}  # the rest is shared equally by the other origins


# --- Records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NamePool:
    """Every written form of a pool's names, and where each name's forms sit in it."""

    forms: pl.Series
    weights: np.ndarray  # drawing probability of each name
    starts: np.ndarray   # (names, 3): first form of each block (plain, variant, typo)
    counts: np.ndarray   # (names, 3): forms in each block


def _forms(name: str, rules: str, stream: Stream) -> tuple[list[str], ...]:
    """Plain spellings (case, accents), variant spellings and typos of one name."""
    plain = list(dict.fromkeys(style(name, upper, accents)
                               for upper in (False, True) for accents in (True, False)))
    variant = [style(v, stream.chance(0.5), True) for v in variants(name, rules)]
    typos = list(dict.fromkeys(typo(name, stream) for _ in range(TYPOS_PER_NAME)))
    return plain, variant, typos


@cache
def name_pool(kind: str) -> NamePool:
    """The given-name ("given") or family-name ("family") pool of all origins, Zipf-weighted."""
    other = (1 - sum(ORIGIN_SHARE.values())) / (len(ORIGINS) - len(ORIGIN_SHARE))
    stream = Stream(np.random.default_rng(7))
    forms: list[str] = []
    weights, starts, counts = [], [], []
    for origin_name, origin in ORIGINS.items():
        share = ORIGIN_SHARE.get(origin_name, other)
        pools = [origin.family] if kind == "family" else [origin.male, origin.female]
        exponent = FAMILY_ZIPF if kind == "family" else GIVEN_ZIPF
        for pool in pools:
            weights.append(share / len(pools) * zipf_weights(len(pool), exponent))
            for name in pool:
                blocks = _forms(name, origin.rules, stream)
                starts.append([len(forms), len(forms) + len(blocks[0]),
                               len(forms) + len(blocks[0]) + len(blocks[1])])
                counts.append([len(b) for b in blocks])
                forms += [form for block in blocks for form in block]
    weight = np.concatenate(weights)
    return NamePool(pl.Series(forms, dtype=pl.String), weight / weight.sum(),
                    np.array(starts), np.array(counts))


def draw_names(pool: NamePool, n: int, rng: np.random.Generator) -> pl.Series:
    """`n` written names: a Zipf-weighted name, then a plain, variant or mistyped spelling."""
    name = rng.choice(len(pool.weights), n, p=pool.weights)
    kind = np.searchsorted(np.array(NOISE), rng.random(n), side="right")
    kind = np.where(pool.counts[name, kind] > 0, kind, 0)  # no variant known: plain spelling
    within = (rng.random(n) * pool.counts[name, kind]).astype(np.int64)
    return pool.forms.gather(pool.starts[name, kind] + within)


def _numbers(n: int, offset: int, multiplier: int, rng: np.random.Generator) -> pl.Series:
    """Eight digits, distinct for distinct record positions (an affine bijection mod 10^8)."""
    positions = np.arange(offset, offset + n, dtype=np.int64)
    if offset + n > DOC_MODULUS:
        raise ValueError(f"at most {DOC_MODULUS} records have distinct document numbers")
    digits = (positions * multiplier + int(rng.integers(DOC_MODULUS))) % DOC_MODULUS
    return pl.Series(digits).cast(pl.String).str.zfill(8)


def _letters(n: int, width: int, rng: np.random.Generator) -> pl.Series:
    codes = rng.integers(ord("A"), ord("Z") + 1, (n, width), dtype=np.uint8)
    return pl.Series(codes.view(f"S{width}").ravel().astype(f"U{width}"))


def _birth_dates(n: int, rng: np.random.Generator) -> dict[str, pl.Series]:
    """Year, month, day (Int32); year-only dates have no month and day, or 01-01."""
    span = int((LAST_BIRTH - FIRST_BIRTH).astype(int)) + 1
    days = FIRST_BIRTH + rng.integers(0, span, n).astype("timedelta64[D]")
    months = days.astype("datetime64[M]")
    year = days.astype("datetime64[Y]").astype(np.int32) + 1970
    month = (months.astype(np.int32) % 12 + 1).astype(np.int32)
    day = ((days - months.astype("datetime64[D]")).astype(np.int32) + 1).astype(np.int32)
    draw = rng.random(n)
    unknown, first_january = draw < YEAR_ONLY * 2 / 3, draw < YEAR_ONLY
    month = np.where(first_january & ~unknown, 1, month)
    day = np.where(first_january & ~unknown, 1, day)
    return {"birth_year": pl.Series(year, dtype=pl.Int32),
            "birth_month": pl.Series(month, dtype=pl.Int32).scatter(np.flatnonzero(unknown), None),
            "birth_day": pl.Series(day, dtype=pl.Int32).scatter(np.flatnonzero(unknown), None)}


def make_records(n: int, seed: int = 1, offset: int = 0) -> pl.DataFrame:
    """`n` canonical rows as `parse` gives them; `offset` numbers them inside a larger set."""
    rng = np.random.default_rng([seed, offset])
    nationalities = sorted(NATIONALITY_ORIGIN)
    prefixes = pl.Series(CNIE_PREFIXES).gather(rng.integers(0, len(CNIE_PREFIXES), n))
    record_ids = pl.Series(np.arange(offset + 1, offset + n + 1)).cast(pl.String).str.zfill(10)
    return pl.DataFrame({
        "record_id": "R" + record_ids,
        "given_name": draw_names(name_pool("given"), n, rng),
        "family_name": draw_names(name_pool("family"), n, rng),
        "address": pl.Series([None] * n, dtype=pl.String),
        "sex": pl.Series(["M", "F"]).gather(rng.integers(0, 2, n)),
        "nationality": pl.Series(nationalities).gather(rng.integers(0, len(nationalities), n)),
        **_birth_dates(n, rng),
        "doc_national_id": prefixes + _numbers(n, offset, 7_654_321, rng),
        "doc_passport": _letters(n, 2, rng) + _numbers(n, offset, 3_141_593, rng),
        "doc_permit": pl.Series([None] * n, dtype=pl.String),
        "doc_ssn": pl.Series([None] * n, dtype=pl.String),
    })


# --- The plain per-record reference ----------------------------------------------------------


class ReferenceEncoder:
    """One record at a time, nothing cached across records: every q-gram and token is an
    `hmac.digest` call. Gives the `bf_*` and `tok_*` columns of `IdentityEncoder`."""

    def __init__(self, spec: EncodingSpec, key: ProjectKey, rules: NameRules):
        if any(b.balance or b.flip_probability for b in spec.bloom.values()):
            raise ValueError("the reference encoder implements salts and identity flips only")
        self.spec, self.rules = spec, rules
        purposes = [p for group in spec.bloom
                    for p in (f"bloom/{group}", f"bloom/{group}/salt", f"bloom/{group}/flips")]
        purposes += [f"name_key/{name}" for name in spec.tokens.name_keys.combine]
        purposes += ["name_set", "dob/year", "dob/year_month", "dob/full", "dob/day_month",
                     *(f"doc/{t}" for t in DOC_TYPES),
                     *(f"doc/{t}/near" for t in spec.tokens.documents.near)]
        self.keys = {p: key.field_key(p) for p in purposes}  # key setup, not a result cache

    def bloom(self, name: str | None, group: str, spec: BloomSpec, salt: str,
              prefix: str) -> dict[str, int | None]:
        """Words and popcount of one name's filter, HMAC-ing every q-gram."""
        if name is None:
            return {**{f"{prefix}_w{w}": None for w in range(spec.words)}, f"{prefix}_pop": None}
        bits = 0
        for gram in qgrams(name, spec.qgram):
            digest = hmac.digest(self.keys[f"bloom/{group}"],
                                 salt.encode() + _SEP + gram.encode("utf-8"), sha256)
            h1 = int.from_bytes(digest[:8], "big")
            h2 = int.from_bytes(digest[8:16], "big") | 1
            for i in range(spec.hashes_per_qgram):
                bits |= 1 << ((h1 + i * h2) % spec.bits)
        words = {f"{prefix}_w{w}": (bits >> (64 * w)) & (2**64 - 1) for w in range(spec.words)}
        return {**words, f"{prefix}_pop": bits.bit_count()}

    def tok(self, purpose: str, value: str | None) -> int | None:
        return None if value is None else token(self.keys[purpose], value)

    def flip(self, out: dict[str, int | None], prefix: str, digest: bytes, part: int,
             spec: BloomSpec) -> None:
        """Flip `identity_flips` bits of a filter at positions (a + i * b) mod length, a and
        b (odd) from the digest's `part`-th 16 bytes (see pseudonymise.encode.flip_masks)."""
        if out[f"{prefix}_pop"] is None:
            return
        filter_ = sum((out[f"{prefix}_w{w}"] or 0) << (64 * w) for w in range(spec.words))
        length = 64 * spec.words
        a = int.from_bytes(digest[16 * part: 16 * part + 8], "big") % length
        b = (int.from_bytes(digest[16 * part + 8: 16 * part + 16], "big") | 1) % length
        for i in range(spec.identity_flips):
            filter_ ^= 1 << ((a + i * b) % length)
        out.update({f"{prefix}_w{w}": (filter_ >> (64 * w)) & (2**64 - 1)
                    for w in range(spec.words)})
        out[f"{prefix}_pop"] = filter_.bit_count()

    def encode(self, record: dict[str, Any]) -> dict[str, int | None]:
        """The encodings of one canonical record."""
        names = {f: normalise_name(record[f], f, self.rules) for f in ("given_name",
                                                                        "family_name")}
        fuzzy = {**names, "address": fold_address(record["address"])}
        dates = birth_date_strings(record["birth_year"], record["birth_month"],
                                   record["birth_day"])
        out: dict[str, int | None] = {}
        for group, spec in self.spec.bloom.items():
            salt = salt_of(record, spec.salt)
            for field in spec.fields:
                out |= self.bloom(fuzzy[field], group, spec, salt, f"bf_{field}")
            named = [f for f in spec.fields if f in names]
            if spec.identity_flips and named:
                identity = "\x1f".join([names["given_name"] or "", names["family_name"] or "",
                                        salt_of(record, "birth_date")])
                digest = hmac.digest(self.keys[f"bloom/{group}/flips"], identity.encode(),
                                     sha256)
                for number, field in enumerate(named):
                    self.flip(out, f"bf_{field}", digest, number, spec)
            if spec.salt not in ("none", *CLEAR_SALTS):
                out[f"tok_salt_{group}"] = self.tok(f"bloom/{group}/salt", salt or None)
        length = self.spec.tokens.name_keys.length
        keys = {f"{k}_key": phonetic_key(names[f"{k}_name"], length, self.rules)
                for k in ("given", "family")}
        parts = {"birth_date": dates["full"], "birth_year": dates["year"], **keys,
                 "name_keys": None if None in keys.values() else " ".join(sorted(keys.values()))}
        for name, combined in self.spec.tokens.name_keys.combine.items():
            values = [parts[p] for p in combined]
            out[f"tok_{name}"] = self.tok(f"name_key/{name}", None if None in values
                                          else "\x1f".join(values))
        if self.spec.tokens.name_set:
            words = sorted({w for name in names.values() if name for w in name.split()})
            out["tok_name_set"] = self.tok("name_set", " ".join(words) or None)
        for precision in self.spec.tokens.birth_date.precisions:
            purpose = "full" if precision == "full_transposed" else precision
            out[f"tok_dob_{precision}"] = self.tok(f"dob/{purpose}", dates[precision])
        for doc_type in DOC_TYPES:
            number = normalise_document(record[f"doc_{doc_type}"])
            out[f"tok_{doc_type}"] = self.tok(f"doc/{doc_type}", number)
        for doc_type in self.spec.tokens.documents.near:
            number = normalise_document(record[f"doc_{doc_type}"])
            out[f"tok_{doc_type}_near"] = None if number is None else [
                self.tok(f"doc/{doc_type}/near", variant) for variant in near_variants(number)]
        return out


def near_variants(number: str) -> list[str]:
    """The number, then the number with each character left out in turn (none from a
    one-character number): what pseudonymise.encode.near_tokens hashes, in its order."""
    if len(number) == 1:
        return [number]
    return [number] + [number[:i] + number[i + 1:] for i in range(len(number))]


def salt_of(record: dict[str, Any], salt: str) -> str:
    """A record's salt as text ('' when unknown); see pseudonymise.encode.salt_values."""
    if salt == "none":
        return ""
    if salt != "birth_date":
        return str(record[salt] or "")
    y, m, d = record["birth_year"], record["birth_month"], record["birth_day"]
    if y is None:
        return ""
    if m is None or d is None or (m, d) in ((1, 1), (12, 31)):
        return f"{y:04d}"
    return f"{y:04d}-{m:02d}-{d:02d}"


def birth_date_strings(y: int | None, m: int | None, d: int | None) -> dict[str, str | None]:
    """What each birth-date precision tokenises; an unknown part gives no string."""
    swappable = d is not None and m is not None and d <= 12 and d != m
    return {
        "year": None if y is None else f"{y:04d}",
        "year_month": None if y is None or m is None else f"{y:04d}-{m:02d}",
        "full": None if None in (y, m, d) else f"{y:04d}-{m:02d}-{d:02d}",
        "full_transposed": f"{y:04d}-{d:02d}-{m:02d}" if y is not None and swappable else None,
        "day_month": None if None in (y, m, d) else f"{m:02d}-{d:02d}",
    }


# --- The benchmark ---------------------------------------------------------------------------


def cores() -> int:
    """CPUs this process may run on (what polars and DuckDB will use)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def batches(rows: pl.DataFrame, size: int) -> Iterator[pl.DataFrame]:
    for start in range(0, rows.height, size):
        yield rows.slice(start, size)


def time_production(rows: pl.DataFrame, spec: EncodingSpec, rules: NameRules,
                    batch_rows: int = BATCH_ROWS) -> tuple[float, pl.DataFrame]:
    """Seconds to encode `rows` in the job's batches with one encoder (as a job does)."""
    start = time.perf_counter()
    encoder = IdentityEncoder(spec, BENCH_KEY, rules)
    encoded = [encoder.encode(batch) for batch in batches(rows, batch_rows)]
    seconds = time.perf_counter() - start
    return seconds, pl.concat(encoded)


def time_reference(rows: pl.DataFrame, spec: EncodingSpec, rules: NameRules
                   ) -> tuple[float, list[dict[str, int | None]]]:
    """Seconds for the per-record reference loop over `rows` (as Python dicts, not timed)."""
    records = rows.to_dicts()
    start = time.perf_counter()
    reference = ReferenceEncoder(spec, BENCH_KEY, rules)
    encoded = [reference.encode(record) for record in records]
    return time.perf_counter() - start, encoded


def run_encode_benchmark(records: int, seed: int = 1) -> dict[str, Any]:
    """Encode `records` generated rows with the production encoder and min(records, 20,000)
    with the reference; the figures as one dict (the `bench encode` JSON line)."""
    spec, rules = load_spec(RULES_DIR / "encoding.yaml"), NameRules.load()
    rows = make_records(records, seed)
    seconds, _ = time_production(rows, spec, rules)
    reference_rows = min(records, REFERENCE_RECORDS)
    reference_seconds, _ = time_reference(rows.head(reference_rows), spec, rules)
    rate, reference_rate = records / seconds, reference_rows / reference_seconds
    return {"benchmark": "encode", "records": records, "seconds": round(seconds, 3),
            "records_per_s": round(rate), "reference_records": reference_rows,
            "reference_records_per_s": round(reference_rate),
            "speedup": round(rate / reference_rate, 1), "cores": cores()}
