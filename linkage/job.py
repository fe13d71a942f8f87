"""`migralink link`: the hub job, from encoded extracts to persons, events and indicators."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

import migralink
from linkage.cluster import cluster
from linkage.events import build_person_tables
from linkage.indicators import run_indicators, set_parameters
from linkage.load import LoadedSource, check_extracts, encodings_of, load_sources
from linkage.model import TrainedModel, train
from linkage.outputs import write_outputs
from linkage.rules import Encodings, LinkageRules, load_rules
from migralink.config import JobConfig
from migralink.errors import LinkageError
from pseudonymise.joblog import log_link


@dataclass
class LinkResult:
    con: duckdb.DuckDBPyConnection
    key_id: str
    counts: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)        # about the job's inputs
    model_warnings: list[str] = field(default_factory=list)  # splink's, from training

    def record(self) -> dict:
        """What run.json keeps of the run: no data, only counts, times and warnings."""
        return {"software": {"name": "migralink", "version": migralink.__version__},
                "key_id": self.key_id, "counts": self.counts, "seconds": self.seconds,
                "warnings": self.warnings, "model_warnings": self.model_warnings}

    def summary(self) -> list[str]:
        c = self.counts
        lines = [f"linked {c['records']:,} records -> {c['identities']:,} distinct "
                 f"identities -> {c['persons']:,} persons (key id {self.key_id})"]
        lines += [f"warning: {w}" for w in self.warnings]
        if self.model_warnings:
            lines.append(f"model notes: {len(self.model_warnings)} from splink training "
                         "(levels a training pass could not estimate), in run.json")
        return lines


def period_bounds(config: JobConfig) -> tuple[date, date]:
    """First and last day of the configured reference period ('2019-01', '2025-12')."""
    (y0, m0), (y1, m1) = (map(int, p.split("-")) for p in config.period)
    last = date(y1 + (m1 == 12), m1 % 12 + 1, 1).toordinal() - 1
    return date(y0, m0, 1), date.fromordinal(last)


def run_indicators_for(con: duckdb.DuckDBPyConnection, config: JobConfig) -> dict[str, int]:
    if config.indicators is None:
        return {}
    start, end = period_bounds(config)
    set_parameters(con, config.country, start, end)
    return run_indicators(con, config.rule(config.indicators))


def input_warnings(sources: list[LoadedSource]) -> list[str]:
    return [f"source {s.name} has no encoded rows" for s in sources
            if s.manifest["output"].get("rows", 0) == 0]


def train_or_explain(con: duckdb.DuckDBPyConnection, rules: LinkageRules,
                     encodings: Encodings) -> TrainedModel:
    """splink fails with its own exceptions when there is too little to learn from."""
    try:
        return train(con, rules, encodings)
    except Exception as err:  # noqa: BLE001 - splink raises several unrelated types
        n = con.execute("SELECT count(*) FROM identities").fetchone()[0]
        raise LinkageError(
            f"the model could not be trained on {n:,} distinct identities "
            f"({type(err).__name__}): too few records, or a training pass found no pairs; "
            "link more data or adjust `training` in the linkage rules") from err


def run_link(config: JobConfig) -> LinkResult:
    """Load, train, predict, cluster, build person tables and indicators, write outputs."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[step] = round(now - clock, 2)
        clock = now

    sources = check_extracts(config)
    con = duckdb.connect()
    encodings = encodings_of(con, sources, load_sources(con, sources))
    lap("load")
    model = train_or_explain(con, load_rules(config.rule(config.linkage)), encodings)
    lap("train")
    predictions = model.predict()
    lap("predict")
    cluster(con, model, predictions)
    lap("cluster")
    con.execute("CREATE OR REPLACE VIEW record_person AS "
                "SELECT source, record_id, person_id FROM record_links")
    counts = {
        "records": con.execute("SELECT count(*) FROM records").fetchone()[0],
        "identities": con.execute("SELECT count(*) FROM identities").fetchone()[0],
        "pairs_scored_ge_floor": con.execute(
            f"SELECT count(*) FROM {predictions.physical_name}").fetchone()[0],
    }
    counts.update(build_person_tables(con))
    counts["indicator_cells"] = run_indicators_for(con, config)  # rows of each table, not persons
    lap("events_indicators")
    result = LinkResult(con, sources[0].manifest["key_id"], counts, seconds,
                        warnings=input_warnings(sources), model_warnings=model.warnings)
    result.outputs = write_outputs(con, config.outputs_dir, model.model_json())
    lap("outputs")
    run_file = config.outputs_dir / "run.json"
    run_file.write_text(json.dumps(result.record(), indent=2) + "\n", encoding="utf-8")
    result.outputs.append(run_file)
    log_link(config, sources, result)
    return result
