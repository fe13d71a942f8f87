"""`migralink demo`: the whole job on embedded data, with quality measured against the truth.

synthesise (or write FEBRL4) -> key -> pseudonymise every source -> link -> quality.json.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from benchmarks.evaluate import evaluate
from benchmarks.febrl import write_febrl4
from linkage.job import LinkResult, run_link
from linkage.report import write_report
from migralink.config import CONFIGS_DIR, JobConfig, load_config
from migralink.summary import link_data, pseudonymise_data, seconds_line
from migralink.timing import BatchDone, Laps, StepDone
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


def demo_steps(dataset: str) -> list[str]:
    """The steps of `run_demo` on `dataset`, in order (what `on_step` is told)."""
    config = load_config(CONFIGS_DIR / DATASETS[dataset])
    return ["data", *(f"pseudonymise {name}" for name in config.sources), "link", "report"]


def run_demo(out: Path, persons: int = 20_000, seed: int = 1, dataset: str = "synth",
             on_step: StepDone | None = None, on_batch: BatchDone | None = None,
             on_link_step: StepDone | None = None) -> DemoResult:
    """Run every step into `out` and write out/quality.json. The callbacks follow progress
    (the CLI's bars): `on_step` each of `demo_steps`, `on_batch(source, rows)` each batch
    encoded, `on_link_step` each step of the link."""
    laps = Laps(on_step)
    config = load_config(CONFIGS_DIR / DATASETS[dataset], workdir=out)
    if dataset == "synth":
        from benchmarks.synth import synthesise

        synthesise(persons, seed, out)
    else:
        write_febrl4(out)
    laps.lap("data")

    key = demo_key(config, seed)
    pseudonymised = []
    for name in config.sources:
        pseudonymised.append(pseudonymise_source(config, name, key, on_batch=on_batch))
        laps.lap(f"pseudonymise {name}")

    label = dataset if dataset != "synth" else f"synth persons={persons} seed={seed}"
    link = run_link(config, against_truth=lambda con: {**evaluate(con, config),
                                                        "dataset": label},
                    on_step=on_link_step)
    laps.lap("link")
    quality = link.quality  # the job's own estimates, then the figures against the truth
    write_report(config.outputs_dir)
    laps.lap("report")
    return DemoResult(config, pseudonymised, link, quality, demo_seconds(laps.seconds))


def demo_seconds(steps: dict[str, float]) -> dict[str, float]:
    """Seconds of data, pseudonymise (all sources), link and report, and their total."""
    encode = sum(v for k, v in steps.items() if k.startswith("pseudonymise "))
    seconds = {"data": steps["data"], "pseudonymise": round(encode, 2),
               "link": steps["link"], "report": steps["report"]}
    return {**seconds, "total": round(sum(seconds.values()), 2)}


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def truth_lines(quality: dict) -> list[str]:
    """The figures measured against the truth: pairs, persons, indicator cells."""
    lines = []
    for level in ("pairs", "persons"):
        values = "  ".join(f"{m} {_figure(quality[level].get(m))}"
                           for m in ("precision", "recall", "f1") if m in quality[level])
        lines.append(f"{level:<8} {values}")
    if "indicators" in quality:
        ind = quality["indicators"]
        lines.append(f"indicators: {ind['cells_ge_100']} cells >= 100, max relative error "
                     f"{_figure(ind['max_rel_error_cells_ge_100'])}")
    return lines


def summary(result: DemoResult) -> str:
    """A one-screen account of the run for the terminal."""
    lines = []
    for p in result.pseudonymised:
        c = p.counts
        lines.append(f"  {p.source:<16} rows {c.rows_in:>9,}  encoded {c.encoded:>9,}  "
                     f"rejected {c.rejected:>6,}")
    lines += result.link.summary()
    lines += truth_lines(result.quality)
    lines.append(seconds_line(result.seconds))
    published = "published/, " if result.config.indicators is not None else ""
    lines.append(f"outputs in {result.config.outputs_dir} (outputs.duckdb, outputs/, "
                 f"{published}quality.json, report.html)")
    return "\n".join(lines)


def summary_data(result: DemoResult) -> dict:
    """The run as data (`demo --json`): the link's summary, the figures against the truth."""
    q = result.quality
    return {"dataset": q.get("dataset"), "out": str(result.config.outputs_dir),
            "pseudonymise": {p.source: pseudonymise_data(p) for p in result.pseudonymised},
            "link": link_data(result.link),
            "truth": {"pairs": q["pairs"], "persons": q["persons"],
                      **({"indicators": {k: v for k, v in q["indicators"].items()
                                         if k != "by_indicator"}} if "indicators" in q else {})},
            "seconds": result.seconds}
