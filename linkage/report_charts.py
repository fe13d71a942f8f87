"""The report's charts, as Vega-Lite specs (rendered offline by the Vega libraries splink ships).

Statistics charts take published values (after disclosure control); linkage charts take the
job's quality figures and its trained model. splink's own charts are used where it has one:
the match-weight histogram and the m, u and weight of each comparison level.
"""

from __future__ import annotations

from typing import Any

from splink.internals.charts import MatchWeightsHistogramChart, MUParametersChart
from splink.internals.settings_creator import SettingsCreator

Spec = dict[str, Any]

VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.2.0.json"  # the bundled version
WIDTH = 540


def _chart(title: str, values: list[dict], **spec: Any) -> Spec:
    return {"$schema": VEGA_LITE_SCHEMA, "title": title, "width": WIDTH, "height": 260,
            "data": {"values": values}, "config": {"legend": {"orient": "bottom"}}, **spec}


def monthly_lines(title: str, rows: list[dict], series: str, y_title: str) -> Spec:
    """One line per `series` value over `month` ('YYYY-MM'); hidden cells are left out."""
    return _chart(title, rows, mark={"type": "line", "point": False, "tooltip": True},
                  encoding={
                      "x": {"field": "month", "type": "temporal", "timeUnit": "yearmonth",
                            "title": None},
                      "y": {"field": "value", "type": "quantitative", "title": y_title},
                      "color": {"field": series, "type": "nominal", "title": None,
                                "sort": {"field": "order"}},
                  })


def yearly_bars(title: str, rows: list[dict], y_title: str) -> Spec:
    """Grouped bars: one group per `year`, one bar per `series`."""
    return _chart(title, rows, width=500, mark={"type": "bar", "tooltip": True},
                  encoding={
                      "x": {"field": "year", "type": "ordinal", "title": None},
                      "xOffset": {"field": "series", "sort": {"field": "order"}},
                      "y": {"field": "value", "type": "quantitative", "title": y_title},
                      "color": {"field": "series", "type": "nominal", "title": None,
                                "sort": {"field": "order"}},
                  })


def source_pair_rates(rates: list[dict]) -> Spec:
    """Heat map: the share of one source's persons found in another source."""
    base = {"x": {"field": "with", "type": "nominal", "title": "found in"},
            "y": {"field": "source", "type": "nominal", "title": "persons of"}}
    return _chart("Linkage rates by source pair", rates, width=360, height=220, layer=[
        {"mark": {"type": "rect", "tooltip": True},
         "encoding": {**base, "color": {"field": "rate", "type": "quantitative",
                                        "scale": {"domain": [0, 1]}, "title": "share"}}},
        {"mark": {"type": "text", "fontSize": 12},
         "encoding": {**base, "text": {"field": "rate", "type": "quantitative",
                                       "format": ".0%"},
                      "color": {"condition": {"test": "datum.rate > 0.6", "value": "white"},
                                "value": "black"}}},
    ])


def nationality_rates(groups: list[dict]) -> Spec:
    """Per nationality group: the share of identities linked to another record, with the
    model's expected recall in the tooltip (a linkage that works worse for a group biases its
    statistics)."""
    rows = [{"group": g["nationality"], "identities": g["identities"],
             "linked": g["linked_share"], "expected recall": g.get("expected_recall")}
            for g in groups if g.get("linked_share") is not None]
    return _chart("Linkage by nationality group", rows, height=240,
                  mark={"type": "bar", "tooltip": {"content": "data"}},
                  encoding={
                      "x": {"field": "group", "type": "nominal", "title": None,
                            "sort": {"field": "identities", "order": "descending"}},
                      "y": {"field": "linked", "type": "quantitative",
                            "title": "identities linked to another record",
                            "scale": {"domain": [0, 1]}, "axis": {"format": ".0%"}},
                  })


def precision_recall(curve: list[dict], threshold: float, truth: dict | None) -> Spec:
    """Expected pair precision and recall by match-probability threshold (the model's own
    estimate), the chosen threshold, and the figures against the truth when there is one."""
    rows = [{"threshold": p["threshold"], "measure": f"expected {m}", "value": p[key]}
            for p in curve for m, key in (("precision", "expected_precision"),
                                          ("recall", "expected_recall"))
            if p.get(key) is not None]
    layers: list[Spec] = [
        {"mark": {"type": "line", "point": True, "tooltip": True},
         "encoding": {"x": {"field": "threshold", "type": "quantitative",
                            "scale": {"domain": [0.5, 1]}, "title": "match probability threshold"},
                      "y": {"field": "value", "type": "quantitative", "title": None,
                            "scale": {"zero": False}},
                      "color": {"field": "measure", "type": "nominal", "title": None}}},
        {"data": {"values": [{"threshold": threshold}]}, "mark": {"type": "rule",
                                                                   "strokeDash": [4, 4]},
         "encoding": {"x": {"field": "threshold", "type": "quantitative"}}},
    ]
    if truth:
        points = [{"threshold": threshold, "measure": f"{m} against truth", "value": truth[m]}
                  for m in ("precision", "recall") if truth.get(m) is not None]
        layers.append({"data": {"values": points},
                       "mark": {"type": "point", "shape": "diamond", "size": 120,
                                "filled": True, "tooltip": True},
                       "encoding": {"x": {"field": "threshold", "type": "quantitative"},
                                    "y": {"field": "value", "type": "quantitative"},
                                    "color": {"field": "measure", "type": "nominal"}}})
    return _chart("Pair precision and recall by threshold", rows, layer=layers,
                  height=240)


def _bundled(spec: Spec) -> Spec:
    """A splink chart spec, declared as the Vega-Lite version the report bundles (splink's
    files say a later one, which only makes vega-embed warn)."""
    return {**spec, "$schema": VEGA_LITE_SCHEMA}


def weight_histogram(bins: list[dict]) -> Spec:
    """splink's histogram of match weights of the scored pairs."""
    chart = MatchWeightsHistogramChart(bins)
    chart.set_width_height(width=WIDTH, height=240)
    spec = _bundled(chart.chart_dict)
    spec.pop("params", None)  # its wheel zoom, a named parameter the leak scan reads as a name
    spec["title"] = {"text": "Match weights of the scored pairs",
                     "subtitle": "pairs at or above the score floor"}
    return spec


def m_u_parameters(model_json: dict) -> Spec:
    """splink's chart of m and u for each level of each comparison, from the saved model."""
    settings = SettingsCreator.from_path_or_dict(model_json).get_settings("duckdb")
    return _bundled(MUParametersChart(settings._parameters_as_detailed_records).chart_dict)
