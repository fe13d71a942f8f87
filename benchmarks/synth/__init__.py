"""Synthetic population of a Morocco-like country and its four agencies' raw extracts.

`synthesise(persons, seed, out)` writes raw/*.csv (the contract of configs/demo.yaml) and
truth/*.parquet (who is who, and where each person really was), deterministically from `seed`.
"""

from benchmarks.synth.extracts import RAW_FILES, synthesise
from benchmarks.synth.population import GROUP_SHARES

__all__ = ["GROUP_SHARES", "RAW_FILES", "synthesise"]
