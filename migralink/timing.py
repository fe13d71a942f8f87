"""Seconds per step of a job, for run.json, the benchmarks and the CLI's progress bars."""

from __future__ import annotations

import time
from collections.abc import Callable

StepDone = Callable[[str, float], None]  # told a step's name and seconds as it ends
BatchDone = Callable[[str, int], None]   # told a source and the rows of a batch just read


class Laps:
    """`lap(step)` records the seconds since the previous lap (or since made) under `step`,
    and tells `on_lap` (when given) that the step has ended."""

    def __init__(self, on_lap: StepDone | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self.on_lap = on_lap
        self._clock = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = round(now - self._clock, 2)
        self._clock = now
        if self.on_lap is not None:
            self.on_lap(step, self.seconds[step])
