"""migralink on encodings against splink on cleartext, on the same synthetic records.

`run_vs_splink(persons, seed)` synthesises one population (benchmarks.synth), then runs each
side in a child process of its own (spawn: a fresh interpreter), so that each side's peak
memory is its own (`own_peak_mib`: VmHWM of that child, read right after its timed part,
before the evaluation loads the truth):

1. producers: demo key, `pseudonymise` of the four sources (timed, not part of the hub's time);
2. migralink hub: `run_link` on the encodings (timed: the hub's wall time), then pair F1
   against the truth (benchmarks/evaluate.py);
3. cleartext preparation: the same raw records read, validated and normalised by migralink's
   producer layer and collapsed to distinct identities (timed on its own);
4. splink on cleartext (benchmarks/splink_cleartext.py): load the distinct identities,
   train, predict, cluster at 0.5 (timed); then pair F1 at 0.5 and at the best of a scan of
   thresholds.

Both F1 figures count the same unit as benchmarks/evaluate.py: a distinct identity of one
source with its true person.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from benchmarks.evaluate import _f1, _ratio, load_truth, pair_and_person_metrics
from migralink.config import CONFIGS_DIR, JobConfig, load_config

# Thresholds scanned on splink's predictions: every 0.05, and the high end more finely.
SCAN_THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20)) + (0.99, 0.999, 0.9999)
CLEAR_DIR = "cleartext"
AFTER_CLUSTERS = ("events_indicators", "quality", "outputs")  # steps of run_link after persons


def own_peak_mib() -> float:
    """This process's peak resident memory so far. On Linux VmHWM of /proc/self/status: the
    high-water mark of this program's own address space. ru_maxrss is not reset by exec, so
    a child spawned by a parent holding 6 GB would report the parent's 6 GB."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10), 1)


def _config(workdir: str) -> JobConfig:
    return load_config(CONFIGS_DIR / "demo.yaml", workdir=workdir)


# --- Child processes -------------------------------------------------------------------------


def encode_in_child(workdir: str, seed: int) -> dict[str, Any]:
    """Producers: the demo key and `pseudonymise` of every source."""
    from migralink.demo import demo_key
    from pseudonymise.job import pseudonymise_source

    config = _config(workdir)
    start = time.perf_counter()
    key = demo_key(config, seed)
    for name in config.sources:
        pseudonymise_source(config, name, key)
    return {"seconds": round(time.perf_counter() - start, 2), "peak_mib": own_peak_mib()}


def migralink_in_child(workdir: str, memory_limit: str | None = None) -> dict[str, Any]:
    """The hub: `run_link` on the encoded extracts (its DuckDB held to `memory_limit`, else
    the config's), then quality against the truth."""
    from linkage.job import run_link

    config = _config(workdir)
    if memory_limit is not None:
        config = config.model_copy(update={"hub": config.hub.model_copy(
            update={"memory_limit": memory_limit})})
    start = time.perf_counter()
    result = run_link(config)
    seconds = round(time.perf_counter() - start, 2)
    peak = own_peak_mib()
    load_truth(result.con, config.at(config.paths.truth))
    quality = pair_and_person_metrics(result.con)
    result.con.close()
    return {"seconds": seconds, "peak_mib": peak, "steps": result.seconds,
            "counts": {k: v for k, v in result.counts.items() if isinstance(v, int)},
            "candidate_pairs": result.plan["total"], "quality": quality}


def prepare_in_child(workdir: str) -> dict[str, Any]:
    """Cleartext preparation: read, validate, normalise, collapse to distinct identities."""
    from benchmarks.splink_cleartext import prepare_cleartext

    start = time.perf_counter()
    counts = prepare_cleartext(_config(workdir), Path(workdir) / CLEAR_DIR)
    return {"seconds": round(time.perf_counter() - start, 2), "peak_mib": own_peak_mib(),
            "counts": counts}


def splink_in_child(workdir: str) -> dict[str, Any]:
    """splink on the cleartext identities (timed), then F1 at 0.5 and over the scan."""
    from benchmarks.splink_cleartext import DEFAULT_THRESHOLD, link_cleartext

    clear = Path(workdir) / CLEAR_DIR
    con = duckdb.connect()
    start = time.perf_counter()
    _, predictions, clusters, steps = link_cleartext(con, clear / "identities.parquet")
    seconds = round(time.perf_counter() - start, 2)
    peak = own_peak_mib()
    config = _config(workdir)
    load_truth(con, config.at(config.paths.truth))
    con.execute(f"CREATE TABLE records AS SELECT * FROM "
                f"read_parquet('{clear / 'records.parquet'}')")
    default = splink_quality(con, clusters.physical_name)
    scan = threshold_scan(con, predictions.physical_name)
    best = max(scan, key=lambda t: (scan[t]["f1"] or 0.0, -t))
    pairs = con.execute(f"SELECT count(*) FROM {predictions.physical_name}").fetchone()[0]
    con.close()
    return {"seconds": seconds, "peak_mib": peak, "steps": steps, "pairs_scored": pairs,
            "default_threshold": DEFAULT_THRESHOLD, "quality_default": default,
            "best_threshold": best, "best": scan[best],
            "f1_by_threshold": {str(t): scan[t]["f1"] for t in scan}}


# --- splink's quality ------------------------------------------------------------------------


def splink_quality(con: duckdb.DuckDBPyConnection, clusters: str) -> dict:
    """Pair and person metrics of splink's clusters, by benchmarks/evaluate.py: a
    record_links table (source, record_id, identity_id, person_id) from the clusters."""
    con.execute(f"""
        CREATE OR REPLACE TABLE record_links AS
        SELECT r.source, r.record_id, r.identity_id, CAST(c.cluster_id AS VARCHAR) AS person_id
        FROM records r JOIN {clusters} c ON c.unique_id = r.identity_id
    """)
    return pair_and_person_metrics(con)


def pair_metrics(labels: np.ndarray, unit_identity: np.ndarray, unit_truth: np.ndarray
                 ) -> dict[str, float | None]:
    """Pair precision, recall and F1 of a clustering (`labels`: a cluster number per
    identity), over units (identity, true person): the counts of
    benchmarks.evaluate.pair_and_person_metrics, in numpy."""
    predicted = labels[unit_identity].astype(np.int64)

    def pairs(keys: np.ndarray) -> int:
        n = np.unique(keys, return_counts=True)[1].astype(np.int64)
        return int((n * (n - 1) // 2).sum())

    tp = pairs(predicted * (int(unit_truth.max()) + 1) + unit_truth)
    precision, recall = _ratio(tp, pairs(predicted)), _ratio(tp, pairs(unit_truth))
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}


def threshold_scan(con: duckdb.DuckDBPyConnection, predictions: str,
                   thresholds: tuple[float, ...] = SCAN_THRESHOLDS) -> dict[float, dict]:
    """Pair metrics when splink's pairs are clustered at each threshold: the connected
    components of the pairs at or above it (what splink's
    cluster_pairwise_predictions_at_threshold computes), scored over the same units as
    benchmarks/evaluate.py."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    con.execute("CREATE OR REPLACE TEMP TABLE _ids AS "
                "SELECT unique_id, row_number() OVER () - 1 AS k FROM identities")
    n = con.execute("SELECT count(*) FROM _ids").fetchone()[0]
    edges = con.execute(f"""
        SELECT a.k AS l, b.k AS r, p.match_probability AS p FROM {predictions} p
        JOIN _ids a ON a.unique_id = p.unique_id_l JOIN _ids b ON b.unique_id = p.unique_id_r
    """).fetchnumpy()
    left, right, probability = (np.asarray(edges[c]) for c in ("l", "r", "p"))
    units = con.execute("""
        SELECT DISTINCT i.k, dense_rank() OVER (ORDER BY t.person_id) - 1 AS truth
        FROM records r JOIN truth_records t USING (source, record_id)
        JOIN _ids i ON i.unique_id = r.identity_id
    """).fetchnumpy()
    unit_identity, unit_truth = np.asarray(units["k"]), np.asarray(units["truth"])
    out = {}
    for threshold in thresholds:
        keep = probability >= threshold
        graph = coo_matrix((np.ones(int(keep.sum()), dtype=np.int8),
                            (left[keep], right[keep])), shape=(n, n))
        labels = connected_components(graph, directed=False)[1]
        out[threshold] = pair_metrics(labels, unit_identity, unit_truth)
    return out


# --- The benchmark ---------------------------------------------------------------------------


def in_child(function: Any, *args: Any) -> Any:
    """Run `function(*args)` in a fresh spawned process (none of the parent's memory)."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def run_vs_splink(persons: int, seed: int = 1, workdir: Path | None = None) -> dict[str, Any]:
    """The `bench vs-splink` figures as one dict. A temporary directory unless `workdir`."""
    from benchmarks.synth import synthesise

    with tempfile.TemporaryDirectory(prefix="migralink-vs-splink-") as temporary:
        root = str(workdir or temporary)
        start = time.perf_counter()
        synthesise(persons, seed, Path(root))
        data_seconds = round(time.perf_counter() - start, 2)
        encode = in_child(encode_in_child, root, seed)
        ours = in_child(migralink_in_child, root)
        prep = in_child(prepare_in_child, root)
        theirs = in_child(splink_in_child, root)
    q, d, b = ours["quality"]["pairs"], theirs["quality_default"]["pairs"], theirs["best"]
    to_clusters = round(sum(v for k, v in ours["steps"].items() if k not in AFTER_CLUSTERS), 2)
    return {
        "benchmark": "vs-splink", "persons": persons, "seed": seed,
        "records": ours["counts"]["records"], "identities": ours["counts"]["identities"],
        "splink_identities": prep["counts"]["identities"],
        "migralink_f1": q["f1"], "migralink_precision": q["precision"],
        "migralink_recall": q["recall"],
        "migralink_persons_precision": ours["quality"]["persons"]["precision"],
        "migralink_persons_recall": ours["quality"]["persons"]["recall"],
        "splink_f1_default": d["f1"], "splink_precision_default": d["precision"],
        "splink_recall_default": d["recall"],
        "splink_persons_precision_default": theirs["quality_default"]["persons"]["precision"],
        "splink_persons_recall_default": theirs["quality_default"]["persons"]["recall"],
        "splink_f1_best": b["f1"], "splink_precision_best": b["precision"],
        "splink_recall_best": b["recall"], "splink_best_threshold": theirs["best_threshold"],
        # like for like: from what each side is handed to persons (migralink's load also
        # collapses the records to identities, which splink gets done in its preparation)
        "migralink_seconds": to_clusters, "splink_seconds": theirs["seconds"],
        "time_ratio": round(to_clusters / theirs["seconds"], 3),
        # the whole link job, with events, indicators, quality estimates and outputs
        "migralink_job_seconds": ours["seconds"],
        "migralink_peak_mib": ours["peak_mib"], "splink_peak_mib": theirs["peak_mib"],
        "migralink_encode_seconds": encode["seconds"],
        "migralink_encode_peak_mib": encode["peak_mib"],
        "splink_prep_seconds": prep["seconds"], "splink_prep_peak_mib": prep["peak_mib"],
        "data_seconds": data_seconds,
        "migralink_steps": ours["steps"], "splink_steps": theirs["steps"],
        "migralink_pairs_scored": ours["counts"].get("pairs_scored_ge_floor"),
        "splink_pairs_scored": theirs["pairs_scored"],
        "splink_f1_by_threshold": theirs["f1_by_threshold"],
    }
