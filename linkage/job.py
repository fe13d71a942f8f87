"""`migralink link`: the hub job, from encoded extracts to persons, events and indicators."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

import migralink
from linkage.cluster import cluster
from linkage.disclosure import (
    apply_disclosure,
    load_disclosure_rules,
    load_sdmx_rules,
    write_published,
)
from linkage.events import build_person_tables
from linkage.indicators import load_indicators, run_indicators, set_parameters
from linkage.labels import label_agreement, load_labels
from linkage.load import LoadedSource, check_extracts, encodings_of, load_sources
from linkage.model import TrainedModel, train
from linkage.outputs import write_outputs
from linkage.person_ids import REGISTRY, IdReport, carry_ids, read_registry, run_id, write_registry
from linkage.plan import Plan, plan
from linkage.quality import assess, choose_threshold
from linkage.rules import Encodings, LinkageRules, check_columns, check_sql, load_rules
from linkage.timeline import build_timeline, load_residence_rules, timeline_summary
from migralink.config import HubConfig, JobConfig
from migralink.errors import LinkageError, MigralinkError
from migralink.timing import Laps, StepDone
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
    quality: dict = field(default_factory=dict)  # estimated, without truth (linkage/quality.py)
    plan: dict = field(default_factory=dict)        # comparisons per blocking pass
    clustering: dict = field(default_factory=dict)  # components checked and split
    person_ids: IdReport = field(default_factory=IdReport)  # ids carried from the last run

    def record(self) -> dict:
        """What run.json keeps of the run: no data, only counts, times and warnings."""
        return {"software": {"name": "migralink", "version": migralink.__version__},
                "key_id": self.key_id, "counts": self.counts, "seconds": self.seconds,
                "warnings": self.warnings, "model_warnings": self.model_warnings,
                "plan": self.plan, "clustering": self.clustering,
                "person_ids": self.person_ids.record()}

    def summary(self) -> list[str]:
        c = self.counts
        lines = [f"linked {c['records']:,} records -> {c['identities']:,} identities -> "
                 f"{c['persons']:,} persons (key {self.key_id})"]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += self.clustering_lines()
        lines += self.statistics_lines()
        lines += self.quality_lines()
        if self.model_warnings:
            lines.append(f"model notes: {len(self.model_warnings)} from splink training, "
                         "in run.json")
        return lines

    def clustering_lines(self) -> list[str]:
        """Comparisons made, components split against chaining, person ids carried."""
        lines = []
        if self.plan:
            lines.append(f"comparisons: {self.plan['total']:,} over "
                         f"{len(self.plan['passes'])} blocking passes (budget "
                         f"{self.plan['max_comparisons']:,.0f})")
        if self.clustering:
            k = self.clustering
            reasons = ", ".join(f"{n:,} {r.replace('_', ' ')}" for r, n in k["reasons"].items())
            lines.append(f"clustering: {k['components']:,} components, {k['checked']:,} checked, "
                         f"{k['split']:,} split ({reasons})")
        if self.person_ids.persons:
            lines.append(self.person_ids.line())
        return lines

    def statistics_lines(self) -> list[str]:
        """What the timeline resolved, and how the published tables were protected."""
        lines = []
        t = self.counts.get("timeline_resolved")
        if t:
            lines.append(
                f"timeline: {t['imputed_by_declared_work'] + t['imputed_at_midpoint']:,} "
                f"crossings imputed; {t['long_term_arrivals']:,} long-term arrivals, "
                f"{t['long_term_departures']:,} departures ({t['provisional']:,} provisional)")
        d = self.counts.get("disclosure")
        if d:
            lines.append(
                f"published: {d['cells']:,} cells, {d['primary']:,} hidden as small, "
                f"{d['secondary']:,} to protect them, {d['rounded']:,} rounded")
        return lines

    def quality_lines(self) -> list[str]:
        """The estimated quality, from the model alone (no truth needed)."""
        if not self.quality:
            return []
        estimated = self.quality["estimated"]
        at = estimated["at_threshold"]
        lines = [f"threshold {estimated['threshold']}: expected pair precision "
                 f"{at.get('expected_precision')}, recall {at.get('expected_recall')} "
                 "(model estimate)"]
        checks = self.quality["model_checks"]
        if checks:
            kinds = sorted({c["check"] for c in checks})
            lines.append(f"model checks: {len(checks)} levels flagged ({', '.join(kinds)})")
        labels = self.quality.get("labels")
        if labels:
            lines.append(f"labels: {labels['pairs']:,} labelled pairs ({labels['matches']:,} "
                         f"matches) gave m; of the matches {labels['matches_linked']} are in "
                         f"one person, of the non-matches {labels['non_matches_apart']} apart")
            if labels["matches"] < MIN_LABELLED_MATCHES:
                lines.append(f"warning: only {labels['matches']} labelled matches: m from so "
                             "few pairs is noisy")
        rates = [r for r in self.quality.get("by_nationality", [])
                 if r["expected_recall"] is not None and r["identities"] >= 100]
        if rates:
            low = min(rates, key=lambda r: r["expected_recall"])
            lines.append(f"lowest expected recall: {low['nationality']} "
                         f"{low['expected_recall']} ({low['identities']:,} identities)")
        return lines


MIN_LABELLED_MATCHES = 100  # below this, m from labels is flagged as noisy


def period_bounds(config: JobConfig) -> tuple[date, date]:
    """First and last day of the configured reference period ('2019-01', '2025-12')."""
    (y0, m0), (y1, m1) = (map(int, p.split("-")) for p in config.period)
    last = date(y1 + (m1 == 12), m1 % 12 + 1, 1).toordinal() - 1
    return date(y0, m0, 1), date.fromordinal(last)


def set_job_parameters(con: duckdb.DuckDBPyConnection, config: JobConfig) -> None:
    """The DuckDB variables the rules read: country and the reference period."""
    start, end = period_bounds(config)
    set_parameters(con, config.country, start, end)


def run_indicators_for(con: duckdb.DuckDBPyConnection, config: JobConfig) -> dict[str, dict]:
    """The timeline tables, then the indicator cells (when the config names indicators)."""
    set_job_parameters(con, config)
    counts: dict[str, dict] = {
        "timeline": build_timeline(con, load_residence_rules(config.rule(config.residence)))}
    if config.indicators is not None:
        counts["indicator_cells"] = run_indicators(con, config.rule(config.indicators))
    return counts


def check_statistics_rules(config: JobConfig) -> None:
    """Read every rules file the statistics need before linking starts, so a bad one stops
    the job in seconds, not after training."""
    load_residence_rules(config.rule(config.residence))
    if config.indicators is not None:
        load_indicators(config.rule(config.indicators))
        load_disclosure_rules(config.rule(config.disclosure))
        load_sdmx_rules(config.rule(config.sdmx))


def protect_and_publish(con: duckdb.DuckDBPyConnection, config: JobConfig
                        ) -> tuple[dict, list[Path]]:
    """Disclosure control of the indicator cells, then OUT/published/ (CSV and SDMX-CSV)."""
    if config.indicators is None:
        return {}, []
    sdmx = load_sdmx_rules(config.rule(config.sdmx))
    rules = load_disclosure_rules(config.rule(config.disclosure))
    protection: dict = {**apply_disclosure(con, rules), "rule": rules.applied()}
    folder = config.outputs_dir / "published"
    for old in folder.glob("*.csv"):
        old.unlink()
    return protection, write_published(con, config.outputs_dir, config.country, sdmx)


def input_warnings(sources: list[LoadedSource]) -> list[str]:
    return [f"source {s.name} has no encoded rows" for s in sources
            if s.manifest["output"].get("rows", 0) == 0]


def train_or_explain(con: duckdb.DuckDBPyConnection, rules: LinkageRules,
                     encodings: Encodings, labels: bool = False,
                     hub: HubConfig | None = None) -> TrainedModel:
    """splink fails with its own exceptions when there is too little to learn from."""
    try:
        return train(con, rules, encodings, labels, hub)
    except MigralinkError:  # ours already says what is wrong (Spark did not start...)
        raise
    except Exception as err:  # noqa: BLE001 - splink raises several unrelated types
        n = con.execute("SELECT count(*) FROM identities").fetchone()[0]
        raise LinkageError(
            f"the model could not be trained on {n:,} distinct identities "
            f"({type(err).__name__}): too few records, or a training pass found no pairs; "
            "link more data or adjust `training` in the linkage rules") from err


def hub_connection(config: JobConfig) -> duckdb.DuckDBPyConnection:
    """The job's in-memory DuckDB, held to the config's memory budget: beyond it, DuckDB
    spills to a private temporary directory (removed by DuckDB's own clean-up of its files;
    the directory itself is left empty)."""
    con = duckdb.connect()
    spill = tempfile.mkdtemp(prefix="migralink-spill-")
    con.execute(f"SET memory_limit = '{config.hub.memory_limit}'")
    con.execute(f"SET temp_directory = '{spill}'")
    if config.hub.threads:
        con.execute(f"SET threads = {config.hub.threads}")
    return con


def check_rules(con: duckdb.DuckDBPyConnection, rules: LinkageRules, encodings: Encodings,
                config: JobConfig) -> None:
    """The rules against these extracts: known columns, then SQL that parses and binds."""
    where = str(config.rule(config.linkage))
    check_columns(rules, encodings, where)
    check_sql(con, rules, encodings, where)


def plan_link(config: JobConfig) -> Plan:
    """The comparisons each blocking pass would make on the extracts (`link --plan`)."""
    sources = check_extracts(config)
    check_statistics_rules(config)
    con = hub_connection(config)
    encodings = encodings_of(con, sources, load_sources(con, sources))
    rules = load_rules(config.rule(config.linkage))
    check_rules(con, rules, encodings, config)
    return plan(con, rules, encodings)


def previous_registry(config: JobConfig, previous: Path | None, key_id: str) -> Path | None:
    """The person-id registry to carry ids from: `previous`, else the outputs' own when a
    run left one; read now, so a registry of another key stops the job before training."""
    registry = previous or config.outputs_dir / REGISTRY
    if previous is None and not registry.exists():
        return None
    read_registry(registry, key_id)
    return registry


def count_links(con: duckdb.DuckDBPyConnection, predictions: str) -> dict[str, int]:
    return {
        "records": con.execute("SELECT count(*) FROM records").fetchall()[0][0],
        "identities": con.execute("SELECT count(*) FROM identities").fetchall()[0][0],
        "pairs_scored_ge_floor": con.execute(
            f"SELECT count(*) FROM {predictions}").fetchall()[0][0],
    }


def write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


# The steps of `run_link`, in order; `on_step` is told each as it ends.
LINK_STEPS = ("load", "plan", "train", "predict", "cluster", "events_indicators", "quality",
              "outputs")


def run_link(config: JobConfig, force: bool = False, previous: Path | None = None,
             against_truth: Callable[[duckdb.DuckDBPyConnection], dict] | None = None,
             on_step: StepDone | None = None) -> LinkResult:
    """Load, plan, train, predict, cluster, build person tables and indicators, write
    outputs. A plan over the rules' budget stops the job unless `force`. Person ids are
    carried from `previous` (default: the outputs' own person_ids.parquet, when there).
    `against_truth` (demo and benchmarks only) adds figures measured against a known truth
    to quality.json before it is written and logged (step "against_truth", after "outputs").
    `on_step(step, seconds)` follows progress through LINK_STEPS (the CLI's bars)."""
    started = run_id()
    laps = Laps(on_step)
    lap = laps.lap

    sources = check_extracts(config)
    check_statistics_rules(config)
    if config.hub.engine == "spark":  # without Java, stop in seconds, not after loading
        from linkage.spark import java_command

        java_command()
    con = hub_connection(config)
    encodings = encodings_of(con, sources, load_sources(con, sources))
    lap("load")
    key_id = sources[0].manifest["key_id"]
    registry = previous_registry(config, previous, key_id)
    rules = load_rules(config.rule(config.linkage))
    check_rules(con, rules, encodings, config)
    blocking = plan(con, rules, encodings)
    blocking.check(force)
    lap("plan")
    labels = None if config.labels is None else load_labels(con, config.at(config.labels))
    model = train_or_explain(con, rules, encodings, labels is not None, config.hub)
    lap("train")
    predictions = model.predict()
    threshold = model.rules.threshold
    estimate = choose_threshold(con, predictions.physical_name, threshold.choose,
                                threshold.match_probability)
    model.link_at(estimate.threshold)
    lap("predict")
    clustering = cluster(con, model, predictions)
    person_ids = carry_ids(con, registry, key_id, started)
    lap("cluster")
    con.execute("CREATE OR REPLACE VIEW record_person AS "
                "SELECT source, record_id, person_id FROM record_links")
    counts = count_links(con, predictions.physical_name)
    set_job_parameters(con, config)
    counts.update(build_person_tables(con))
    counts.update(run_indicators_for(con, config))  # rows of each table, not persons
    protection, published = protect_and_publish(con, config)
    counts["disclosure"] = protection
    counts["timeline_resolved"] = timeline_summary(con)
    lap("events_indicators")
    result = LinkResult(con, key_id, counts, laps.seconds,
                        warnings=input_warnings(sources), model_warnings=model.warnings,
                        plan=blocking.record(), clustering=clustering.record(),
                        person_ids=person_ids)
    model_json = model.model_json()  # the trained model as data, once: checked and saved
    result.quality = assess(con, predictions.physical_name, estimate, model_json)
    result.quality["match_weight_histogram"] = model.weight_histogram(predictions)
    if labels is not None:
        result.quality["labels"] = {**labels, **label_agreement(con)}
    lap("quality")
    result.outputs = write_outputs(con, config.outputs_dir, model_json) + published
    result.outputs.append(write_registry(con, config.outputs_dir, key_id))
    lap("outputs")
    if against_truth is not None:
        result.quality.update(against_truth(con))
        lap("against_truth")
    result.outputs.append(write_json(config.outputs_dir / "run.json", result.record()))
    result.outputs.append(write_json(config.outputs_dir / "quality.json", result.quality))
    log_link(config, sources, result)
    return result
