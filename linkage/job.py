"""`migralink link`: the hub job, from encoded extracts to persons, events and indicators."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from linkage.cluster import cluster
from linkage.events import build_person_tables
from linkage.indicators import run_indicators, set_parameters
from linkage.load import check_extracts, load_sources
from linkage.model import train
from linkage.outputs import write_outputs
from linkage.rules import load_rules
from migralink.config import JobConfig


@dataclass
class LinkResult:
    con: duckdb.DuckDBPyConnection
    counts: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)
    model_warnings: list[str] = field(default_factory=list)


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
    columns = load_sources(con, sources)
    lap("load")
    rules = load_rules(config.rule(config.linkage))
    model = train(con, rules, columns)
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
    counts.update(run_indicators_for(con, config))
    lap("events_indicators")
    outputs = write_outputs(con, config.outputs_dir, model.model_json())
    lap("outputs")
    return LinkResult(con, counts, seconds, outputs, model.warnings)
