"""The run report (linkage/report.py): its data, its text, and that it stays self-contained.

The browser test (test_report_browser.py) checks that it draws; these check what it says."""

import json
import os
import re
from pathlib import Path

import duckdb
import pytest
from splink.internals.html_utils import load_chart_libraries

from linkage.disclosure import DisclosureRules
from linkage.report import (
    Job,
    audit_status,
    disclosure_status,
    json_for_script,
    published_series,
    read_job,
    statistics_charts,
    write_report,
)
from migralink.errors import MigralinkError
from pseudonymise.audit import VENDORED, scan, scan_patterns, scannable_text

ALL = {"sex": "_T", "age_group": "_T", "citizenship": "_T", "activity": "_T",
       "occupation": "_T", "destination": "_Z", "residence": "_T"}


def cell(indicator: str, period: str, value: int | None, **dims: str) -> tuple:
    d = {**ALL, **dims}
    return (indicator, "M" if "-" in period else "A", period, d["sex"], d["age_group"],
            d["citizenship"], d["activity"], d["occupation"], d["destination"], d["residence"],
            value, "A" if value is not None else "C",
            "none" if value is not None else "primary")


CELLS = [
    cell("stock_migrant_workers", "2024-01", 30),
    cell("stock_migrant_workers", "2024-01", 18, sex="M"),
    cell("stock_migrant_workers", "2024-01", 12, sex="F"),
    cell("stock_migrant_workers", "2024-01", None, sex="_U"),
    cell("stock_migrant_workers", "2024-02", 31),
    cell("stock_migrant_workers", "2024-02", None, sex="M"),   # hidden: left out
    cell("stock_migrant_workers", "2024-02", 13, sex="F"),
    cell("stock_migrant_workers", "2024-01", 20, citizenship="SEN"),
    cell("stock_migrant_workers", "2024-01", 10, citizenship="CIV"),
    cell("stock_migrant_workers", "2024-02", 20, citizenship="CIV"),
    cell("stock_migrant_workers", "2024-02", 11, citizenship="_U"),  # unknown: not a line
    cell("stock_migrant_workers", "2024-01", 25, sex="M", citizenship="SEN"),  # not a total
    cell("inflow_for_work", "2024", 40),
    cell("inflow_for_work", "2024", 22, sex="M"),
    cell("seasonal_departures", "2024", 15, residence="_Z"),
]


@pytest.fixture
def published(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "outputs.duckdb"))
    con.execute("CREATE TABLE published_cells (indicator VARCHAR, frequency VARCHAR, "
                "time_period VARCHAR, sex VARCHAR, age_group VARCHAR, citizenship VARCHAR, "
                "activity VARCHAR, occupation VARCHAR, destination VARCHAR, residence VARCHAR, "
                "value BIGINT, status VARCHAR, protection VARCHAR)")
    con.executemany(f"INSERT INTO published_cells VALUES ({', '.join('?' * 13)})", CELLS)
    return con


def test_series_are_the_published_totals_of_every_other_dimension(published) -> None:
    assert published_series(published, ("stock_migrant_workers",), "sex") == [
        ("stock_migrant_workers", "2024-01", "F", 12),
        ("stock_migrant_workers", "2024-01", "M", 18),
        ("stock_migrant_workers", "2024-01", "_T", 30),
        ("stock_migrant_workers", "2024-02", "F", 13),
        ("stock_migrant_workers", "2024-02", "_T", 31)]
    assert published_series(published, ("inflow_for_work", "seasonal_departures")) == [
        ("inflow_for_work", "2024", "_T", 40), ("seasonal_departures", "2024", "_T", 15)]


def test_statistics_charts_hold_the_published_values(published) -> None:
    specs = statistics_charts(published)
    by_sex = {(r["month"], r["series"]): r["value"]
              for r in specs["stock_by_sex"]["data"]["values"]}
    assert by_sex == {("2024-01", "Total"): 30, ("2024-01", "Men"): 18,
                      ("2024-01", "Women"): 12, ("2024-02", "Total"): 31,
                      ("2024-02", "Women"): 13}
    # CIV 30 persons-months in all, SEN 20: CIV first; unknown and the total are no lines
    citizens = specs["stock_by_citizenship"]["data"]["values"]
    assert [(r["month"], r["series"], r["order"], r["value"]) for r in citizens] == [
        ("2024-01", "CIV", 0, 10), ("2024-01", "SEN", 1, 20), ("2024-02", "CIV", 0, 20)]
    assert "2 largest citizenships" in specs["stock_by_citizenship"]["title"]
    flows = specs["flows_by_year"]["data"]["values"]
    assert flows == [{"year": "2024", "series": "Inflow of foreigners for work", "order": 0,
                      "value": 40}]
    seasonal = specs["seasonal_programme"]["data"]["values"]
    assert [(r["series"], r["value"]) for r in seasonal] == [("Departures", 15)]


def test_disclosure_rule_is_said_in_words() -> None:
    counts = {"cells": 1200, "primary": 150, "secondary": 40, "rounded": 0}
    suppression = DisclosureRules(version=1).applied()
    assert suppression == {"version": 1, "method": "suppression", "min_count": 10,
                           "relations": []}
    text = disclosure_status({**counts, "rule": suppression})
    assert text.startswith("cell suppression: counts under 10 hidden")
    assert "1,200 cells: 150 hidden as small, 40 to protect them, 0 rounded" in text
    rounding = DisclosureRules(version=1, method="rounding").applied()
    text = disclosure_status({**counts, "rule": rounding})
    assert text.startswith("graduated random rounding (bases 3/5/10/100)")
    assert "counts under 6 hidden" in text
    assert disclosure_status(None) == "no indicators were published."


def job(tmp_path: Path, audit: dict | None, current: bool = True) -> Job:
    return Job(tmp_path, {"key_id": "k1-0"}, {}, None, audit, current)


def test_audit_status_says_pass_fail_missing_or_stale(tmp_path: Path) -> None:
    warning = {"severity": "warning"}
    assert audit_status(job(tmp_path, None)).startswith("not audited yet: run `migralink audit")
    assert audit_status(job(tmp_path, {"passed": True, "findings": [warning]})) == (
        "PASS, 1 warnings (audit/report.md).")
    failed = {"passed": False, "findings": [{"severity": "high"}, {"severity": "high"}, warning]}
    assert audit_status(job(tmp_path, failed)).startswith("FAIL (2 problems to fix), 1 warnings")
    assert audit_status(job(tmp_path, {"passed": True, "findings": []}, current=False)).endswith(
        "The audit predates this run: audit again.")


def test_an_audit_older_than_the_run_is_stale(tmp_path: Path) -> None:
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "report.json").write_text('{"passed": true, "findings": []}')
    (tmp_path / "run.json").write_text('{"key_id": "k1-0", "counts": {}}')
    os.utime(tmp_path / "audit" / "report.json", (1_000_000, 1_000_000))
    assert read_job(tmp_path).audit_is_current is False
    os.utime(tmp_path / "audit" / "report.json")
    assert read_job(tmp_path).audit_is_current is True


def test_a_directory_without_a_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MigralinkError, match=r"no run.json") as refused:
        write_report(tmp_path)
    assert refused.value.hint == "run `migralink link` first"
    with pytest.raises(MigralinkError, match=r"no such directory"):
        write_report(tmp_path / "nowhere")


def test_damaged_job_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"key_id": "k1-0", "counts": {}')  # cut short
    with pytest.raises(MigralinkError, match=r"run.json: not readable as JSON"):
        write_report(tmp_path)
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(MigralinkError, match=r"run.json: no key_id, counts"):
        write_report(tmp_path)


def test_the_report_never_replaces_a_job_file(tmp_path: Path) -> None:
    minimal_job(tmp_path)
    run = (tmp_path / "run.json").read_text()
    for target in ("run.json", "outputs.duckdb", "keys/project.key"):
        with pytest.raises(MigralinkError):
            write_report(tmp_path, tmp_path / target)
    (tmp_path / "notes.html").write_text("<html>someone's page</html>")
    with pytest.raises(MigralinkError, match="exists and is not a migralink report"):
        write_report(tmp_path, tmp_path / "notes.html")
    assert (tmp_path / "notes.html").read_text() == "<html>someone's page</html>"
    assert (tmp_path / "run.json").read_text() == run
    first = write_report(tmp_path)
    assert write_report(tmp_path) == first  # an earlier report is replaced


def test_script_json_cannot_close_its_element() -> None:
    text = json_for_script({"title": "</script><script>alert(1)</script> & more"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"title": "</script><script>alert(1)</script> & more"}


RELATION = {"total": "seasonal_departures",
            "parts": ["seasonal_returns", "seasonal_non_returns"]}


def minimal_job(directory: Path) -> None:
    run = {"key_id": "k1-abc", "counts": {"records": 100, "identities": 80, "persons": 50,
                                          "disclosure": {"cells": 15, "primary": 3,
                                                         "secondary": 1, "rounded": 0,
                                                         "rule": {"method": "suppression",
                                                                  "min_count": 10,
                                                                  "relations": [RELATION]}}},
           "seconds": {"load": 1.0, "train": 2.5}, "plan": {"total": 400}}
    quality = {"estimated": {"threshold": 0.9, "at_threshold": {"expected_precision": 0.99},
                             "curve": [{"threshold": 0.9, "expected_precision": 0.99,
                                        "expected_recall": 0.98}]},
               "linkage_rates": [{"source": "a", "with": "b", "rate": 0.5}],
               "pairs": {"precision": 0.97, "recall": 0.96, "f1": 0.965},
               "indicators": {"cells_ge_100": 0, "max_rel_error_cells_ge_100": None}}
    (directory / "run.json").write_text(json.dumps(run))
    (directory / "quality.json").write_text(json.dumps(quality))


def chart_specs(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="chart-specs">(.*?)</script>',
                      page, re.S)
    return json.loads(found.group(1))


def test_report_is_one_self_contained_file(tmp_path: Path, published) -> None:
    published.close()
    minimal_job(tmp_path)
    page = write_report(tmp_path).read_text(encoding="utf-8")
    assert set(chart_specs(page)) == {"stock_by_sex", "stock_by_citizenship", "flows_by_year",
                                      "seasonal_programme", "precision_recall", "source_pairs"}
    for name in chart_specs(page):
        assert f'data-chart="{name}"' in page
    own = page
    for library in load_chart_libraries().values():
        assert library in page
        own = own.replace(library, "")
    # nothing is fetched: no script or style from a file or the network, no link element
    assert not re.search(r"<script[^>]*\ssrc=", own)
    assert not re.search(r"<link\b|<img\b|@import|url\(", own)
    assert "k1-abc" in page and "cell suppression: counts under 10 hidden" in page
    assert "seasonal_departures = seasonal_returns + seasonal_non_returns" in page
    assert "not audited yet" in page
    assert "<td>pairs, against truth</td><td>0.9700</td><td>0.9600</td><td>0.9650</td>" in page
    assert "0 cells of 100 or more, largest relative error n/a" in page


def test_the_leak_scan_skips_only_the_exact_vendored_libraries(tmp_path: Path) -> None:
    libraries = load_chart_libraries()
    vega, altered = libraries["vega"], libraries["vega-embed"][:2000] + "changed"
    page = tmp_path / "report.html"
    page.write_text(f"<script>{vega}</script>\n<p>holder AB1234567</p>\n"
                    f"<script>{altered}</script>\n", encoding="utf-8")
    text = scannable_text(page)
    assert text.count(VENDORED) == 1  # the altered copy is scanned like any other text
    assert altered in text
    found = scan_patterns([page])
    assert [(f.kind, f.row) for f in found if f.kind == "document_number"][:1] == [
        ("document_number", 2)]
    assert [(f.column, f.row) for f in scan([page], {"ab1234567"})] == [("line", 2)]


def test_a_short_name_counts_as_a_whole_line_not_as_a_word(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text("a { min-width: 3px; }\nmin\nwith Ahmed here\n", encoding="utf-8")
    assert [(f.row, f.count) for f in scan([page], {"min"})] == [(2, 1)]
    assert [(f.row, f.count) for f in scan([page], {"ahmed"})] == [(3, 1)]


def test_a_job_without_indicators_says_so(tmp_path: Path) -> None:
    minimal_job(tmp_path)  # no outputs.duckdb, as a job without indicator rules
    page = write_report(tmp_path).read_text(encoding="utf-8")
    assert "<p>This job published no indicators.</p>" in page
    assert set(chart_specs(page)) == {"precision_recall", "source_pairs"}
