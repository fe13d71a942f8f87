"""`migralink report DIR`: one self-contained report.html of a finished job.

It reads only what the job left for people to read: run.json and quality.json (counts,
times, quality figures), the trained model (m and u per level), the audit's report.json when
the audit has run, and the published, disclosure-controlled cells of outputs.duckdb. So the
report holds counts and model parameters, never a name, birth date, document number, token
or record id. The Vega libraries that draw the charts are inlined (splink ships them), so the
file opens offline and fetches nothing.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any

import duckdb
from splink.internals.html_utils import load_chart_libraries

import migralink
from linkage import report_charts as charts
from migralink.errors import MigralinkError

REPORT_FILE = "report.html"
TEMPLATE = Path(__file__).parent / "templates" / "report.html"
DIMENSIONS = ("sex", "age_group", "citizenship", "activity", "occupation", "destination",
              "residence")
TOTALS = ("_T", "_Z")  # a dimension's total, or not applicable: both mean "all"
SEX_LABELS = {"_T": "Total", "M": "Men", "F": "Women"}
TOP_CITIZENSHIPS = 8
FLOWS = ("inflow_for_work", "outflow_nationals_for_work", "return_migrant_workers",
         "long_term_arrivals", "long_term_departures")
SEASONAL = ("seasonal_departures", "seasonal_returns", "seasonal_non_returns")


class _Template(Template):
    delimiter = "@@"


@dataclass
class Job:
    """What the report reads of a job directory."""

    directory: Path
    run: dict
    quality: dict
    model: dict | None
    audit: dict | None
    audit_is_current: bool


def _read_json(path: Path, needs: tuple[str, ...] = ()) -> dict | None:
    """The file's JSON object (None when there is no file); a damaged one is an error."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MigralinkError(f"{path}: not readable as JSON ({type(err).__name__})",
                             hint="run `migralink link` (or `audit`) again to rewrite it"
                             ) from None
    missing = [k for k in needs if not isinstance(data, dict) or k not in data]
    if missing:
        raise MigralinkError(f"{path}: no {', '.join(missing)}",
                             hint="run `migralink link` again to rewrite it")
    return data


def read_job(directory: Path) -> Job:
    if not directory.is_dir():
        raise MigralinkError(f"{directory}: no such directory",
                             hint="give the job directory `migralink link` wrote to")
    run = _read_json(directory / "run.json", ("key_id", "counts"))
    if run is None:
        raise MigralinkError(f"{directory}: no run.json; not a linked job directory",
                             hint="run `migralink link` first")
    audit_file, run_file = directory / "audit" / "report.json", directory / "run.json"
    current = audit_file.is_file() and audit_file.stat().st_mtime >= run_file.stat().st_mtime
    return Job(directory, run, _read_json(directory / "quality.json") or {},
               _read_json(directory / "model" / "splink_model.json", ("comparisons",)),
               _read_json(audit_file, ("passed", "findings")), current)


# --- Published statistics ----------------------------------------------------------------------


def published_series(con: duckdb.DuckDBPyConnection, indicators: tuple[str, ...],
                     by: str | None = None) -> list[tuple[str, str, str, int]]:
    """(indicator, period, category of `by`, value) of the published cells that are totals
    in every other dimension; hidden cells (no value) are left out."""
    others = [d for d in DIMENSIONS if d != by]
    where = " AND ".join(f"{d} IN {TOTALS}" for d in others)
    category = by or "'_T'"
    return con.execute(f"""
        SELECT indicator, time_period, {category} AS category, value FROM published_cells
        WHERE indicator IN (SELECT unnest(?::VARCHAR[])) AND value IS NOT NULL AND {where}
        ORDER BY indicator, time_period, category""", [list(indicators)]).fetchall()


LABELS = {"inflow_for_work": "Inflow of foreigners for work",
          "outflow_nationals_for_work": "Outflow of nationals for work",
          "return_migrant_workers": "Return migrant workers",
          "long_term_arrivals": "Long-term arrivals",
          "long_term_departures": "Long-term departures",
          "seasonal_departures": "Departures", "seasonal_returns": "Returns",
          "seasonal_non_returns": "Non-returns"}
HIDDEN = "A missing line or bar is a hidden cell (small, or hidden to protect one), not a zero."
CAPTIONS = {
    "stock_by_sex": "Published values, after disclosure control. The total also counts persons "
                    "of unknown sex. " + HIDDEN,
    "stock_by_citizenship": "Published values, after disclosure control. " + HIDDEN,
    "flows_by_year": "Published values. Long-term flows of the last year are provisional: the "
                     "12 months after their crossing run past the period. " + HIDDEN,
    "seasonal_programme": "Published values. Departures = returns + non-returns, cell by cell; "
                          "the three are protected together. " + HIDDEN,
    "precision_recall": "The model's estimate among scored pairs; the dashed line is the chosen "
                        "threshold, the diamonds the figures measured against the truth.",
    "source_pairs": "Share of one source's persons also found in another source; on the "
                    "diagonal, found more than once in the same source.",
    "nationality": "Share of each group's identities linked to at least one other record; the "
                   "model's expected recall of the group is in the tooltip.",
    "m_u": "splink's chart of the trained model: the share of matching (m) and non-matching (u) "
           "pairs in each level of each comparison.",
}


def _label(indicator: str) -> str:
    return LABELS.get(indicator, indicator.replace("_", " ").capitalize())


def statistics_charts(con: duckdb.DuckDBPyConnection) -> dict[str, charts.Spec]:
    stock = "stock_migrant_workers"
    by_sex = [{"month": p, "series": SEX_LABELS[s], "order": list(SEX_LABELS).index(s),
               "value": v} for _, p, s, v in published_series(con, (stock,), "sex")
              if s in SEX_LABELS]
    by_country = [r for r in published_series(con, (stock,), "citizenship")
                  if r[2] not in ("_T", "_U")]
    totals: dict[str, int] = {}
    for _, _, c, v in by_country:
        totals[c] = totals.get(c, 0) + v
    top = sorted(totals, key=lambda c: (-totals[c], c))[:TOP_CITIZENSHIPS]
    by_citizenship = [{"month": p, "series": c, "order": top.index(c), "value": v}
                      for _, p, c, v in by_country if c in top]
    return {
        "stock_by_sex": charts.monthly_lines(
            "Stock of international migrant workers, by sex", by_sex, "series", "persons"),
        "stock_by_citizenship": charts.monthly_lines(
            f"Stock of international migrant workers, {len(top)} largest citizenships",
            by_citizenship, "series", "persons"),
        "flows_by_year": charts.yearly_bars(
            "Flows by year", _yearly(con, FLOWS), "persons"),
        "seasonal_programme": charts.yearly_bars(
            "Seasonal programme: departures, returns and non-returns", _yearly(con, SEASONAL),
            "persons"),
    }


def _yearly(con: duckdb.DuckDBPyConnection, indicators: tuple[str, ...]) -> list[dict]:
    return [{"year": p, "series": _label(i), "order": indicators.index(i), "value": v}
            for i, p, _, v in published_series(con, indicators)]


# --- Linkage quality ----------------------------------------------------------------------------


def linkage_charts(job: Job) -> dict[str, charts.Spec]:
    q = job.quality
    found: dict[str, charts.Spec] = {}
    estimated = q.get("estimated")
    if estimated:
        found["precision_recall"] = charts.precision_recall(
            estimated["curve"], estimated["threshold"], q.get("pairs"))
    if q.get("match_weight_histogram"):
        found["match_weights"] = charts.weight_histogram(q["match_weight_histogram"])
    if q.get("linkage_rates"):
        found["source_pairs"] = charts.source_pair_rates(q["linkage_rates"])
    if q.get("by_nationality"):
        found["nationality"] = charts.nationality_rates(q["by_nationality"])
    if job.model:
        found["m_u"] = charts.m_u_parameters(job.model)
    return found


# --- HTML ---------------------------------------------------------------------------------------


def json_for_script(value: Any) -> str:
    """JSON for a <script> element: one value a line (so a scan of the file reads short
    lines), and no character that could close the element."""
    return (json.dumps(value, indent=1).replace("<", r"\u003c").replace(">", r"\u003e")
            .replace("&", r"\u0026"))


def _e(value: Any) -> str:
    return html.escape(str(value))


def _number(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return f"{value:,}" if isinstance(value, int) else _e(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_number(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def captions(job: Job) -> dict[str, str]:
    """The figure captions; the histogram's names the chosen threshold as a match weight."""
    found = dict(CAPTIONS)
    threshold = job.quality.get("estimated", {}).get("threshold")
    if threshold is not None and 0 < threshold < 1:
        weight = math.log2(threshold / (1 - threshold))
        found["match_weights"] = (f"splink's chart. The chosen threshold, match probability "
                                  f"{threshold}, is match weight {weight:.1f}.")
    return found


def _figure(name: str, caption: str = "") -> str:
    note = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure><div class="chart" data-chart="{_e(name)}"></div>{note}</figure>'


def summary_cards(job: Job) -> str:
    c = job.run["counts"]
    plan = job.run.get("plan") or {}
    estimated = job.quality.get("estimated", {})
    cards = [("records", c["records"]), ("distinct identities", c["identities"]),
             ("persons", c["persons"]), ("comparisons", plan.get("total", "n/a")),
             ("threshold", str(estimated.get("threshold", "n/a"))),
             ("seconds to link", f"{sum(job.run.get('seconds', {}).values()):.1f}")]
    return "".join(f'<div class="card"><b>{_number(v)}</b><span>{_e(k)}</span></div>'
                   for k, v in cards)


def privacy_box(job: Job) -> str:
    rows = [("Key id", f"{job.run['key_id']}: identities were encoded at source under this key "
                       "(keyed HMAC tokens and Bloom filters); linking needs no key, and the "
                       "key file is not among what the hub reads.")]
    rows.append(("Audit", audit_status(job)))
    rows.append(("Disclosure rule", disclosure_status(job.run["counts"].get("disclosure"))))
    rows.append(("This report", "counts and model parameters only: no name, birth date, "
                                "document number, token or record id."))
    return "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)


def audit_status(job: Job) -> str:
    if job.audit is None:
        return f"not audited yet: run `migralink audit {job.directory}`, then the report again."
    high = sum(f["severity"] == "high" for f in job.audit["findings"])
    warnings = len(job.audit["findings"]) - high
    status = ("PASS" if job.audit["passed"] else f"FAIL ({high} problems to fix)")
    stale = "" if job.audit_is_current else " The audit predates this run: audit again."
    return f"{status}, {warnings} warnings (audit/report.md).{stale}"


def disclosure_status(protection: dict | None) -> str:
    if not protection:
        return "no indicators were published."
    rule = protection.get("rule", {})
    if rule.get("method") == "rounding":
        bases = "/".join(str(b["base"]) for b in rule["bands"])
        how = (f"graduated random rounding (bases {bases}) drawn from cell keys, counts "
               f"under {rule['suppress_below']} hidden")
    else:
        related = "".join(f"; {r['total']} = {' + '.join(r['parts'])} protected as one more "
                          "line" for r in rule.get("relations", []))
        how = (f"cell suppression: counts under {rule.get('min_count', '?')} hidden, then "
               f"secondary suppression so no table line holds a single hidden cell{related}")
    return (f"{how}. {protection['cells']:,} cells: {protection['primary']:,} hidden as small, "
            f"{protection['secondary']:,} to protect them, {protection['rounded']:,} rounded "
            "(rules/disclosure.yaml).")


def quality_table(job: Job) -> str:
    q = job.quality
    at = q.get("estimated", {}).get("at_threshold", {})
    rows = [["pairs, model estimate", at.get("expected_precision"), at.get("expected_recall"),
             at.get("expected_f1")]]
    for level in ("pairs", "persons"):
        if level in q:
            rows.append([f"{level}, against truth", q[level].get("precision"),
                         q[level].get("recall"), q[level].get("f1", "")])
    table = _table(["", "precision", "recall", "F1"], rows)
    ind = q.get("indicators")
    if ind:
        table += (f"<p>Indicators against truth: {ind['cells_ge_100']:,} cells of 100 or more, "
                  f"largest relative error {_number(ind['max_rel_error_cells_ge_100'])}.</p>")
    checks = q.get("model_checks") or []
    if checks:
        items = "".join(f"<li>{_e(c['comparison'])}, {_e(c['level'])}: {_e(c['what'])}</li>"
                        for c in checks)
        table += f"<p>Model checks:</p><ul>{items}</ul>"
    return table


def render(job: Job, specs: dict[str, charts.Spec]) -> str:
    libraries = load_chart_libraries()
    notes = captions(job)
    q = job.quality
    truth = f" (measured against the truth of {q['dataset']})" if q.get("dataset") else ""
    values = {
        "title": _e(f"migralink report: {job.directory.resolve().name}"),
        "software": _e(f"migralink {migralink.__version__}"),
        "generated": _e(datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        "cards": summary_cards(job),
        "privacy": privacy_box(job),
        "statistics": "".join(_figure(n, notes[n]) for n in STATISTICS if n in specs)
                      or "<p>This job published no indicators.</p>",
        "linkage": "".join(_figure(n, notes.get(n, "")) for n in LINKAGE if n in specs),
        "quality_table": quality_table(job),
        "truth": _e(truth),
        "specs": json_for_script(specs),
        "vega": libraries["vega"], "vega_lite": libraries["vega-lite"],
        "vega_embed": libraries["vega-embed"],
    }
    return _Template(TEMPLATE.read_text(encoding="utf-8")).substitute(values)


STATISTICS = ("stock_by_sex", "stock_by_citizenship", "flows_by_year", "seasonal_programme")
LINKAGE = ("precision_recall", "match_weights", "source_pairs", "nationality", "m_u")


def write_report(directory: Path, out: Path | None = None) -> Path:
    """Write the job's report (default: DIRECTORY/report.html) and return its path."""
    job = read_job(directory)
    path = out or directory / REPORT_FILE
    check_target(path)
    specs = published_charts(directory / "outputs.duckdb")
    specs.update(linkage_charts(job))
    path.write_text(render(job, specs), encoding="utf-8")
    return path


GENERATOR = '<meta name="generator" content="migralink report">'


def check_target(path: Path) -> None:
    """Write only an .html file that is new or an earlier report: never over a job's file."""
    if path.suffix.lower() not in (".html", ".htm"):
        raise MigralinkError(f"{path}: the report is an .html file",
                             hint="give --out a path ending in .html")
    if path.exists():
        with open(path, "rb") as handle:
            head = handle.read(2048).decode("utf-8", errors="replace")
        if not path.is_file() or GENERATOR not in head:
            raise MigralinkError(f"{path}: exists and is not a migralink report; not replaced",
                                 hint="give --out a new file, or remove this one")


def published_charts(database: Path) -> dict[str, charts.Spec]:
    """The statistics charts, when the job published indicators."""
    if not database.is_file():
        return {}
    try:
        con = duckdb.connect(str(database), read_only=True)
    except duckdb.IOException:
        raise MigralinkError(f"{database}: cannot be opened (in use by a running job?)",
                             hint="run the report when `migralink link` has finished") from None
    with con:
        if con.execute("SELECT count(*) FROM duckdb_tables() "  # none without indicators
                       "WHERE table_name = 'published_cells'").fetchall()[0][0]:
            return statistics_charts(con)
    return {}
