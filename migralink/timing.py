"""Seconds per step of a job, for run.json and the benchmarks."""

from __future__ import annotations

import time


class Laps:
    """`lap(step)` records the seconds since the previous lap (or since made) under `step`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._clock = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = round(now - self._clock, 2)
        self._clock = now
