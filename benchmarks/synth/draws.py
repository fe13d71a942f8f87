"""Deterministic random draws: numpy Generators consumed in a fixed order, never Python `random`."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Hashable, Sequence
from itertools import accumulate
from typing import Generic, TypeVar

import numpy as np
import polars as pl

T = TypeVar("T", bound=Hashable)


class Stream:
    """Uniform draws from a numpy Generator handed out one at a time.

    Per-person loops need many scalar draws; numpy scalar calls are slow, so draw in blocks.
    """

    def __init__(self, rng: np.random.Generator, block: int = 1 << 16) -> None:
        self._rng = rng
        self._block = block
        self._buf: list[float] = []
        self._i = 0

    def u(self) -> float:
        """One uniform draw in [0, 1)."""
        if self._i == len(self._buf):
            self._buf = self._rng.random(self._block).tolist()
            self._i = 0
        value = self._buf[self._i]
        self._i += 1
        return value

    def chance(self, p: float) -> bool:
        return self.u() < p

    def between(self, lo: int, hi: int) -> int:
        """A uniform integer in [lo, hi], both included."""
        return lo + min(int(self.u() * (hi - lo + 1)), hi - lo)

    def pick(self, items: Sequence[T]) -> T:
        return items[min(int(self.u() * len(items)), len(items) - 1)]

    def exp(self, mean: float) -> float:
        return -mean * math.log(1.0 - self.u())


class Weighted(Generic[T]):
    """A discrete distribution over values, drawn one at a time or as a numpy sample."""

    def __init__(self, weights: dict[T, float]) -> None:
        self.values: list[T] = list(weights)
        self.cum = list(accumulate(weights.values()))
        self.total = self.cum[-1]

    def draw(self, s: Stream) -> T:
        i = bisect_right(self.cum, s.u() * self.total)
        return self.values[min(i, len(self.values) - 1)]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` values as a numpy array (object dtype for strings)."""
        probs = np.diff(np.asarray([0.0, *self.cum])) / self.total
        idx = rng.choice(len(self.values), size=n, p=probs)
        return np.asarray(self.values, dtype=object)[idx]


def zipf_weights(n: int, exponent: float) -> np.ndarray:
    """Zipf-like frequencies for ranks 1..n: a few very common values and a long tail."""
    w = 1.0 / np.arange(1, n + 1) ** exponent
    return w / w.sum()


def make_unique(values: list[str], redraw: Callable[[np.ndarray], list[str]]) -> list[str]:
    """Redraw every value that repeats an earlier one until all are distinct."""
    values = list(values)
    for _ in range(100):
        dup = np.flatnonzero(~pl.Series(values, dtype=pl.Utf8).is_first_distinct().to_numpy())
        if dup.size == 0:
            return values
        for i, v in zip(dup.tolist(), redraw(dup), strict=True):
            values[i] = v
    raise RuntimeError("could not draw distinct values; the format space is too small")
