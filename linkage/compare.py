"""The comparison step of the Bloom comparisons in numpy: candidate pairs -> levels.

Dice on Bloom filters is the inner loop of linking. splink writes a comparison as
`CASE WHEN level 1 THEN 5 WHEN level 2 THEN 4 ... ELSE 0 END`; DuckDB evaluates a CASE one
WHEN at a time on the pairs left over and shares nothing between WHENs, so a pair whose names
differ computes Dice once per level (six times for a name comparison with its swapped-name
level). Here each |A & B| a comparison needs is computed once per pair, column by column
over the 64-bit words (numpy's AND and popcount, vectorised), and every level is then an
integer test on it: the level of a pair is that of its first level that holds, as in the CASE.

`migralink bench compare` times this against the SQL splink runs, on the same pairs, and
checks that every pair gets the same level. The link itself still scores pairs through
splink's SQL (splink takes comparison vectors from its own CASE statements, and offers no
way to hand it precomputed ones).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from linkage.rules import NEVER, Comparison, Encodings, bound_ratio, expand

CHUNK = 1 << 17  # pairs per numpy pass: the words of a chunk stay in the CPU's cache
_TERM = re.compile(r"^dice\(\s*(\w+)\s*(?:,\s*(\w+)\s*)?\)\s*(>=|>)\s*(\d*\.?\d+)$")
_NULL = re.compile(r"^null\(\s*(\w+)\s*\)$")


@dataclass(frozen=True)
class Bound:
    """`Dice(l.left, r.right) op numerator / denominator`, on the filters as flipped."""
    left: str
    right: str
    strict: bool
    numerator: int
    denominator: int


@dataclass(frozen=True)
class BloomLevel:
    value: int                 # splink's comparison vector value (-1 for a null level)
    null_field: str | None     # a null level: this filter missing on either side
    bounds: tuple[Bound, ...]  # otherwise: any of these holds


class Unsupported(ValueError):
    """A level the numpy kernel does not compute (it then stays with splink's SQL)."""


def bloom_levels(comparison: Comparison, encodings: Encodings) -> list[BloomLevel]:
    """The levels of a comparison written with dice() bounds and null(), in order, with the
    values splink gives them: -1 for null levels, then n .. 1 from the first of the n other
    levels, 0 for else (implied). Unsupported for any other kind of level."""
    levels: list[BloomLevel] = []
    rest = [lv for lv in comparison.levels if not lv.null_level and not lv.else_]
    for level in comparison.levels:
        if level.else_:
            continue
        sql = " ".join((level.sql or "").split())
        if level.null_level:
            if expand(sql, encodings) == NEVER:
                continue  # salt_differs() on unsalted filters: the level cannot occur
            match = _NULL.match(sql)
            if match is None:
                raise Unsupported(f"null level {level.label!r}: {sql}")
            levels.append(BloomLevel(-1, match.group(1), ()))
            continue
        bounds = tuple(_bound(term, encodings) for term in sql.split(" OR "))
        levels.append(BloomLevel(len(rest) - rest.index(level), None, bounds))
    return levels


def _bound(term: str, encodings: Encodings) -> Bound:
    match = _TERM.match(term.strip())
    if match is None:
        raise Unsupported(f"not a dice() bound: {term}")
    left, right = match.group(1), match.group(2) or match.group(1)
    ratio = bound_ratio(encodings.threshold(left, float(match.group(4))))
    return Bound(left, right, match.group(3) == ">", ratio.numerator, ratio.denominator)


Columns = dict[str, np.ndarray]  # f"{field}_w{w}" (uint64) and f"{field}_pop" (int, -1 = null)


def _common(left: Columns, right: Columns, a: str, b: str, words: int, s: slice) -> np.ndarray:
    """|A & B| of the pairs in slice `s` (int32: the products of the bounds fit)."""
    out = np.bitwise_count(left[f"{a}_w0"][s] & right[f"{b}_w0"][s]).astype(np.int32)
    for w in range(1, words):
        out += np.bitwise_count(left[f"{a}_w{w}"][s] & right[f"{b}_w{w}"][s])
    return out


class _Chunk:
    """One slice of the pairs, with each |A & B| and |A| + |B| worked out once for every
    comparison that needs it (the swapped-name levels of given and family name share two)."""

    def __init__(self, encodings: Encodings, left: Columns, right: Columns, s: slice):
        self.encodings, self.left, self.right, self.s = encodings, left, right, s
        self.n = s.stop - s.start
        self.commons: dict[tuple[str, str], np.ndarray] = {}
        self.totals: dict[tuple[str, str], np.ndarray] = {}

    def holds(self, bound: Bound) -> np.ndarray:
        key = (bound.left, bound.right)
        if key not in self.commons:
            words = self.encodings.bloom_words[bound.left]
            self.commons[key] = _common(self.left, self.right, *key, words, self.s)
            self.totals[key] = (self.left[f"{bound.left}_pop"][self.s].astype(np.int32)
                                + self.right[f"{bound.right}_pop"][self.s])
        lhs = self.commons[key] * (2 * bound.denominator)
        rhs = self.totals[key] * bound.numerator
        return (lhs > rhs) if bound.strict else (lhs >= rhs)

    def missing(self, field: str) -> np.ndarray:
        column = f"{field}_pop" if field in self.encodings.bloom_words else field
        return (self.left[column][self.s] < 0) | (self.right[column][self.s] < 0)

    def levels(self, levels: list[BloomLevel]) -> np.ndarray:
        """The values of the last level that holds, written from the last level to the
        first, are overwritten by earlier ones (CASE's first wins)."""
        out = np.zeros(self.n, dtype=np.int8)
        for level in reversed(levels):
            if level.null_field is not None:
                out[self.missing(level.null_field)] = -1
                continue
            holds = self.holds(level.bounds[0])
            for bound in level.bounds[1:]:
                holds |= self.holds(bound)
            out[holds] = level.value
        return out


def compare_levels(comparisons: list[list[BloomLevel]], encodings: Encodings, left: Columns,
                   right: Columns, threads: int = 1) -> list[np.ndarray]:
    """The comparison vector value of every pair (row i of `left` with row i of `right`) in
    each comparison, a chunk of pairs per task on `threads` threads (numpy lets go of the
    GIL in its loops)."""
    n = len(next(iter(left.values())))
    chunks = [slice(start, min(start + CHUNK, n)) for start in range(0, n, CHUNK)]

    def task(s: slice) -> list[np.ndarray]:
        chunk = _Chunk(encodings, left, right, s)
        return [chunk.levels(levels) for levels in comparisons]

    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(task, chunks))
    if not parts:
        return [np.zeros(0, dtype=np.int8) for _ in comparisons]
    return [np.concatenate([part[k] for part in parts]) for k in range(len(comparisons))]
