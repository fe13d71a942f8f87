"""`migralink bench scale`: the growth figures, the size list, and one small whole run."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from benchmarks.bench_scale import growth, nlogn_exponent, run_scale
from migralink.cli import app


def test_nlogn_exponent_by_hand() -> None:
    # 100k -> 1M: 10 x log(1e6) / log(1e5) = 12 times the time, exponent log10(12)
    assert nlogn_exponent(100_000, 1_000_000) == pytest.approx(math.log10(12))
    assert nlogn_exponent(10, 1_000) == pytest.approx(math.log(100 * 3) / math.log(100))


def test_growth_flags_stages_faster_than_nlogn() -> None:
    before = {"persons": 100_000, "job_seconds": 100.0,
              "seconds": {"link": 50.0, "square": 10.0, "tiny": 0.1}}
    after = {"persons": 1_000_000, "job_seconds": 1000.0,
             "seconds": {"link": 500.0, "square": 1000.0, "tiny": 30.0}}
    figures = growth(before, after)
    assert figures["growth"] == {"job": 1.0, "link": 1.0, "square": 2.0}  # tiny: under 2 s
    assert figures["faster_than_nlogn"] == ["square"]
    assert figures["nlogn_exponent"] == round(math.log10(12), 3)


@pytest.mark.parametrize("text", ["10000,abc", "1000,500", "50", "1000,1000"])
def test_bad_sizes_are_refused(text: str) -> None:
    result = CliRunner().invoke(app, ["bench", "scale", "--persons", text])
    assert result.exit_code == 2
    assert "--persons" in result.output and "error:" in result.output


def test_one_small_size_runs_the_whole_job() -> None:
    """800 persons: one JSON line with every stage timed, and the truth's pair F1."""
    (line,) = list(run_scale([800], seed=3))
    json.dumps(line)
    assert line["persons"] == 800
    assert line["events"] > line["identities"] > line["persons_found"] > 0
    assert set(line["seconds"]) == {"pseudonymise", "load", "plan", "train", "predict",
                                    "cluster", "events_indicators", "quality", "outputs"}
    assert line["job_seconds"] >= sum(line["seconds"].values()) - 0.05
    assert line["peak_mib"]["job"] == max(line["peak_mib"]["pseudonymise"],
                                          line["peak_mib"]["link"])
    assert line["pair_f1"] >= 0.97
    assert line["candidate_pairs"] >= line["pairs_scored"]
