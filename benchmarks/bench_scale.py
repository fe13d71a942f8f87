"""The whole job at national sizes: synthesise, pseudonymise the four sources, link.

For each population size, `run_scale` synthesises the population (benchmarks.synth, not
timed as part of the job), then runs each half of the job in a fresh child process (spawn),
so that each half's peak memory is its own (VmHWM of the child, read right after its
timed part, before the evaluation loads the truth):

1. producers: `pseudonymise` of the four sources with the demo key (seconds per source);
2. hub: `run_link` (seconds per step: load, plan, train, predict, cluster, events and
   indicators, quality, outputs), then pair F1 against the truth (benchmarks/evaluate.py).

One JSON line per size: events (encoded records), distinct identities, candidate pairs (the
comparisons of the blocking passes), pairs scored, persons found, seconds per stage, peak
memory per half, pair precision, recall and F1. From the second size on, each line also has
each stage's growth exponent against the size before it (log t2/t1 over log n2/n1: 1 is
linear in persons) beside the exponent n log n would have over the same step.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.vs_splink import _config, in_child, migralink_in_child, own_peak_mib

# stages timed, in job order: the producers' one, then the steps of linkage.job.run_link
PRODUCERS = "pseudonymise"
# a stage under this many seconds at both sizes gets no growth exponent (timer noise)
MIN_SECONDS_FOR_GROWTH = 2.0


def pseudonymise_in_child(workdir: str, seed: int) -> dict[str, Any]:
    """Producers: the demo key, then `pseudonymise` of every source, each timed."""
    from migralink.demo import demo_key
    from pseudonymise.job import pseudonymise_source

    config = _config(workdir)
    key = demo_key(config, seed)
    seconds = {}
    for name in config.sources:
        start = time.perf_counter()
        pseudonymise_source(config, name, key)
        seconds[name] = round(time.perf_counter() - start, 2)
    return {"seconds": seconds, "peak_mib": own_peak_mib()}


def scale_line(persons: int, seed: int, data_seconds: float, producers: dict,
               hub: dict) -> dict[str, Any]:
    """One size's figures (the `bench scale` JSON line, before growth is added)."""
    counts, pairs = hub["counts"], hub["quality"]["pairs"]
    stages = {PRODUCERS: round(sum(producers["seconds"].values()), 2), **hub["steps"]}
    job = round(stages[PRODUCERS] + hub["seconds"], 2)
    return {
        "benchmark": "scale", "persons": persons, "seed": seed,
        "events": counts["records"], "identities": counts["identities"],
        "candidate_pairs": hub["candidate_pairs"],
        "pairs_scored": counts["pairs_scored_ge_floor"], "persons_found": counts["persons"],
        "job_seconds": job, "seconds": stages,
        "pseudonymise_seconds": producers["seconds"], "data_seconds": data_seconds,
        "peak_mib": {"pseudonymise": producers["peak_mib"], "link": hub["peak_mib"],
                     "job": max(producers["peak_mib"], hub["peak_mib"])},
        "pair_precision": pairs["precision"], "pair_recall": pairs["recall"],
        "pair_f1": pairs["f1"], "persons_precision": hub["quality"]["persons"]["precision"],
        "persons_recall": hub["quality"]["persons"]["recall"],
        "seconds_per_1000_persons": round(1000 * job / persons, 3),
    }


def nlogn_exponent(n1: int, n2: int) -> float:
    """The growth exponent of n log n from n1 to n2 (what `growth` is compared with)."""
    return math.log(n2 * math.log(n2) / (n1 * math.log(n1))) / math.log(n2 / n1)


def growth(before: dict, after: dict) -> dict[str, Any]:
    """Each stage's growth exponent from the size `before` to `after`; stages faster than
    n log n (beyond timer noise: both timings at least MIN_SECONDS_FOR_GROWTH)."""
    n1, n2 = before["persons"], after["persons"]
    ratio = math.log(n2 / n1)
    timed = {"job": (before["job_seconds"], after["job_seconds"]),
             **{s: (before["seconds"].get(s, 0.0), after["seconds"][s])
                for s in after["seconds"]}}
    exponents = {stage: round(math.log(t2 / t1) / ratio, 3) for stage, (t1, t2) in timed.items()
                 if min(t1, t2) >= MIN_SECONDS_FOR_GROWTH}
    bound = nlogn_exponent(n1, n2)
    return {"growth_from_persons": n1, "growth": exponents, "nlogn_exponent": round(bound, 3),
            "faster_than_nlogn": sorted(s for s, e in exponents.items() if e > bound)}


# the hub's DuckDB budget in the benchmark: at a million persons the job's tables (37
# million records, 84 million person-months) are several GB, and spilling them costs more
# than it saves; peak memory stays under 8 GiB with it
MEMORY_LIMIT = "5GB"


def run_scale(sizes: list[int], seed: int = 1, workdir: Path | None = None,
              memory_limit: str = MEMORY_LIMIT) -> Iterator[dict[str, Any]]:
    """The `bench scale` lines, one per size as each is done; in a temporary directory (one
    population at a time) unless `workdir` (then kept, a subdirectory per size)."""
    from benchmarks.synth import synthesise

    before = None
    for persons in sizes:
        with tempfile.TemporaryDirectory(prefix="migralink-scale-") as temporary:
            root = workdir / str(persons) if workdir else Path(temporary)
            start = time.perf_counter()
            synthesise(persons, seed, root)
            data_seconds = round(time.perf_counter() - start, 2)
            producers = in_child(pseudonymise_in_child, str(root), seed)
            hub = in_child(migralink_in_child, str(root), memory_limit)
        line = scale_line(persons, seed, data_seconds, producers, hub)
        line["memory_limit"] = memory_limit
        if before is not None:
            line.update(growth(before, line))
        before = line
        yield line
