"""`migralink demo`: the whole job on embedded data, with quality measured against the truth.

synthesise (or write FEBRL4) -> key -> pseudonymise every source -> link -> quality.json.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.evaluate import evaluate
from benchmarks.febrl import write_febrl4
from linkage.job import LinkResult, run_link
from linkage.report import write_report
from migralink.config import CONFIGS_DIR, JobConfig, load_config
from pseudonymise.job import PseudonymiseResult, pseudonymise_source
from pseudonymise.keys import ProjectKey, passphrase_from_env, write_key

# The demo's passphrase protects a throwaway key for synthetic data only.
DEMO_PASSPHRASE = "migralink-demo-only"
DATASETS = {"synth": "demo.yaml", "febrl4": "febrl4.yaml"}


@dataclass
class DemoResult:
    config: JobConfig
    pseudonymised: list[PseudonymiseResult]
    link: LinkResult
    quality: dict
    seconds: dict[str, float]


def demo_key(config: JobConfig, seed: int) -> ProjectKey:
    """The demo's key: derived from the seed, so a demo run is reproducible to the last digit.
    Only for synthetic and public data; a real project key comes from `migralink keygen`."""
    os.environ.setdefault(config.key.passphrase_env, DEMO_PASSPHRASE)
    passphrase = passphrase_from_env(config.key.passphrase_env)
    secret = hashlib.sha256(f"migralink demo key {seed}".encode()).digest()
    return write_key(config.at(config.key.file), passphrase, secret=secret)


def run_demo(out: Path, persons: int = 20_000, seed: int = 1, dataset: str = "synth") -> DemoResult:
    """Run every step into `out` and write out/quality.json."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    config = load_config(CONFIGS_DIR / DATASETS[dataset], workdir=out)
    if dataset == "synth":
        from benchmarks.synth import synthesise

        synthesise(persons, seed, out)
    else:
        write_febrl4(out)
    seconds["data"] = round(time.perf_counter() - start, 2)

    clock = time.perf_counter()
    key = demo_key(config, seed)
    pseudonymised = [pseudonymise_source(config, name, key) for name in config.sources]
    seconds["pseudonymise"] = round(time.perf_counter() - clock, 2)

    clock = time.perf_counter()
    label = dataset if dataset != "synth" else f"synth persons={persons} seed={seed}"
    link = run_link(config, against_truth=lambda con: {**evaluate(con, config),
                                                        "dataset": label})
    seconds["link"] = round(time.perf_counter() - clock, 2)
    quality = link.quality  # the job's own estimates, then the figures against the truth
    write_report(config.outputs_dir)
    seconds["total"] = round(time.perf_counter() - start, 2)
    return DemoResult(config, pseudonymised, link, quality, seconds)


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def summary(result: DemoResult) -> str:
    """A one-screen account of the run for the terminal."""
    lines = []
    for p in result.pseudonymised:
        c = p.counts
        lines.append(f"  {p.source:<16} rows {c.rows_in:>9,}  encoded {c.encoded:>9,}  "
                     f"rejected {c.rejected:>6,}")
    lines += result.link.summary()
    q = result.quality
    for level in ("pairs", "persons"):
        values = "  ".join(f"{m} {_figure(q[level].get(m))}" for m in ("precision", "recall", "f1")
                           if m in q[level])
        lines.append(f"{level:<8} {values}")
    if "indicators" in q:
        ind = q["indicators"]
        lines.append(f"indicators: {ind['cells_ge_100']} cells >= 100, max relative error "
                     f"{_figure(ind['max_rel_error_cells_ge_100'])}")
    lines.append("seconds  " + "  ".join(f"{k} {v}" for k, v in result.seconds.items()))
    lines.append(f"outputs in {result.config.outputs_dir} (outputs.duckdb, outputs/, quality.json)")
    return "\n".join(lines)
