"""Linkage accuracy of the whole pipeline on FEBRL4 or a synthetic population.

A thin layer over `run_demo`: the dataset is written, encoded by migralink's producers and
linked on its encodings by the hub, then measured against its truth (benchmarks/evaluate.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from migralink.demo import DATASETS, run_demo


def run_accuracy(dataset: str = "febrl4", persons: int = 20_000, seed: int = 1,
                 out: Path | None = None) -> dict[str, Any]:
    """The `bench accuracy` figures as one dict. A temporary directory unless `out` is
    given (`persons` and `seed` make the synthetic population; FEBRL4 is fixed)."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}")
    with tempfile.TemporaryDirectory(prefix="migralink-accuracy-") as temporary:
        result = run_demo(Path(out or temporary), persons, seed, dataset)
        result.link.con.close()
    pairs, units = result.quality["pairs"], result.quality["persons"]
    counts = result.link.counts
    return {
        "benchmark": "accuracy", "dataset": dataset,
        **({"persons": persons, "seed": seed} if dataset == "synth" else {}),
        "records": counts["records"], "identities": counts["identities"],
        "persons_linked": counts["persons"],
        "pair_precision": pairs["precision"], "pair_recall": pairs["recall"],
        "pair_f1": pairs["f1"],
        "persons_precision": units["precision"], "persons_recall": units["recall"],
        "encode_seconds": result.seconds["pseudonymise"],
        "link_seconds": result.seconds["link"],
    }
