"""The plan: comparisons per blocking pass counted before linking, and the budget."""

import json
from pathlib import Path

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from linkage.plan import PassCount, Plan, plan
from linkage.rules import Encodings, LinkageRules, load_rules
from migralink.cli import app
from migralink.config import CONFIGS_DIR, RULES_DIR
from migralink.errors import LinkageError

# Six identities. By hand, pairs (l < r) agreeing on each pass:
#   ssn        a1 a2 a3 share 10           -> (a1,a2) (a1,a3) (a2,a3)           3
#   near       list elements 2, 9, 3       -> (a1,a3) (a3,a4) (a2,a6)           3
#              new: (a1,a3) already by ssn -> (a3,a4) (a2,a6)                    2
#   name_keys  100: a1 a2; 200: a3 a4 a5   -> (a1,a2) (a3,a4) (a3,a5) (a4,a5)   4
#              new: (a1,a2) by ssn, (a3,a4) by near -> (a3,a5) (a4,a5)          2
#   birth      7: a1 a2 a5 a6              -> 6 pairs
#              new: all but (a1,a2) by ssn and (a2,a6) by near                  4
# A null agrees with nothing; splink scores a pair once, under the first pass making it.
IDENTITIES = """
    SELECT * FROM (VALUES
        ('a1', 10,   100,  7,    [1, 2]),
        ('a2', 10,   100,  7,    [3]),
        ('a3', 10,   200,  NULL, [2, 9]),
        ('a4', 20,   200,  NULL, [9]),
        ('a5', NULL, 200,  7,    NULL),
        ('a6', NULL, NULL, 7,    [3])
    ) t(unique_id, tok_ssn, tok_name_keys, tok_dob_full, tok_ssn_near)
"""
PASSES = [
    {"name": "ssn", "sql": "l.tok_ssn = r.tok_ssn"},
    {"name": "ssn_near", "sql": "l.tok_ssn_near = r.tok_ssn_near", "explode": ["tok_ssn_near"]},
    {"name": "name_keys", "sql": "l.tok_name_keys = r.tok_name_keys"},
    {"name": "birth_date", "sql": "l.tok_dob_full = r.tok_dob_full"},
]
EXPECTED = [("ssn", 3, 3, 3), ("ssn_near", 3, 2, 5), ("name_keys", 4, 2, 7),
            ("birth_date", 6, 4, 11)]


def rules_with(passes: list[dict], budget: float = 2e8) -> LinkageRules:
    base = load_rules(RULES_DIR / "linkage" / "default.yaml").model_dump(by_alias=True)
    base["blocking"] = passes
    base["budget"] = {"max_comparisons": budget}
    return LinkageRules.model_validate(base)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE TABLE identities AS {IDENTITIES}")
    return con


def as_tuples(p: Plan) -> list[tuple]:
    return [(x.name, x.comparisons, x.new, x.cumulative) for x in p.passes]


def test_counts_by_hand(con: duckdb.DuckDBPyConnection) -> None:
    counted = plan(con, rules_with(PASSES), Encodings({}))
    assert counted.method == "group_by"
    assert as_tuples(counted) == EXPECTED
    assert counted.total == 11 and counted.identities == 6
    assert counted.largest.name == "birth_date"


def test_splink_counts_the_same(con: duckdb.DuckDBPyConnection) -> None:
    counted = plan(con, rules_with(PASSES), Encodings({}), method="splink")
    assert counted.method == "splink"
    assert as_tuples(counted) == EXPECTED


def test_equality_passes_only(con: duckdb.DuckDBPyConnection) -> None:
    # without the exploded pass: name_keys new = 4 - (a1,a2) = 3; birth_date new = 6 -
    # (a1,a2) = 5, (a2,a6) now being new
    passes = [PASSES[0], PASSES[2], PASSES[3]]
    counted = plan(con, rules_with(passes), Encodings({}))
    assert as_tuples(counted) == [("ssn", 3, 3, 3), ("name_keys", 4, 3, 6),
                                  ("birth_date", 6, 5, 11)]
    # a pass repeated adds nothing
    again = plan(con, rules_with([*passes, {"name": "ssn_again", "sql": "l.tok_ssn = r.tok_ssn"}]),
                 Encodings({}))
    assert as_tuples(again)[-1] == ("ssn_again", 3, 0, 11)


def test_other_shapes_fall_back_to_splink(con: duckdb.DuckDBPyConnection) -> None:
    passes = [{"name": "ssn_and_birth",
               "sql": "l.tok_ssn = r.tok_ssn AND l.tok_name_keys = r.tok_name_keys"}]
    counted = plan(con, rules_with(passes), Encodings({}))
    assert counted.method == "splink"
    assert as_tuples(counted) == [("ssn_and_birth", 1, 1, 1)]


def test_budget_names_the_pass_to_tighten(con: duckdb.DuckDBPyConnection) -> None:
    over = plan(con, rules_with(PASSES, budget=10), Encodings({}))
    with pytest.raises(LinkageError, match=r"pass 'birth_date' adds 4 of 11 comparisons; "
                                           r"tighten it or raise budget.max_comparisons, "
                                           r"or run with --force"):
        over.check()
    over.check(force=True)
    plan(con, rules_with(PASSES, budget=11), Encodings({})).check()


def test_table_and_record() -> None:
    p = Plan(1000, [PassCount("ssn", 1500, 1500, 1500), PassCount("name_keys", 2500, 2000, 3500)],
             "group_by", 1e4)
    lines = p.table()
    assert lines[0].split() == ["pass", "comparisons", "new", "cumulative"]
    assert lines[2].split() == ["name_keys", "2,500", "2,000", "3,500"]
    assert lines[3].split() == ["total", "3,500"]
    assert "budget 10,000 comparisons (35.0% used)" in lines[4]
    assert p.record() == {"identities": 1000, "method": "group_by", "total": 3500,
                          "max_comparisons": 1e4, "left_out": [],
                          "passes": [{"pass": "ssn", "comparisons": 1500, "new": 1500,
                                      "cumulative": 1500},
                                     {"pass": "name_keys", "comparisons": 2500, "new": 2000,
                                      "cumulative": 3500}]}


# --- on the job: `link --plan`, a plan over budget refused, --force ------------------------


@pytest.fixture(scope="module")
def encoded_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic job, pseudonymised, not linked yet."""
    from benchmarks.synth import synthesise
    from migralink.config import load_config
    from migralink.demo import demo_key
    from pseudonymise.job import pseudonymise_source

    out = tmp_path_factory.mktemp("plan_job")
    config = load_config(CONFIGS_DIR / "demo.yaml", workdir=out)
    synthesise(1500, 7, out)
    key = demo_key(config, 7)
    for name in config.sources:
        pseudonymise_source(config, name, key)
    return out


def job_config(out: Path, budget: float | None = None) -> Path:
    """The demo config in `out`, with a copy of the default rules under another budget."""
    config = yaml.safe_load((CONFIGS_DIR / "demo.yaml").read_text())
    if budget is not None:
        rules = yaml.safe_load((RULES_DIR / "linkage" / "default.yaml").read_text())
        rules["budget"] = {"max_comparisons": budget}
        rules_file = out / f"rules_{int(budget)}.yaml"
        rules_file.write_text(yaml.safe_dump(rules, sort_keys=False))
        config["linkage"] = str(rules_file)
    path = out / f"job_{budget}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_link_plan_prints_and_stops(encoded_job: Path) -> None:
    result = CliRunner().invoke(app, ["link", "--config", str(job_config(encoded_job)),
                                      "--workdir", str(encoded_job), "--plan"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["pass", "comparisons", "new", "cumulative"]
    rules = [p["name"] for p in yaml.safe_load(
        (RULES_DIR / "linkage" / "default.yaml").read_text())["blocking"]]
    end = next(i for i, line in enumerate(lines) if line.startswith("total"))
    passes = lines[1:end]
    names = [line.split()[0] for line in passes]
    left_out = [line for line in lines if line.startswith("left out")]
    out = left_out[0].split(": ")[1].split(", ") if left_out else []
    assert sorted(names + out) == sorted(rules) and names == [n for n in rules if n in names]
    total = int(lines[end].split()[1].replace(",", ""))
    assert total == sum(int(line.split()[2].replace(",", "")) for line in passes)
    assert total == int(passes[-1].split()[3].replace(",", ""))
    assert not (encoded_job / "run.json").exists()  # nothing was linked


def test_link_over_budget_refused_then_forced(encoded_job: Path) -> None:
    refused = CliRunner().invoke(app, ["link", "--config", str(job_config(encoded_job, 1000)),
                                       "--workdir", str(encoded_job)])
    assert refused.exit_code == 2
    assert "over the budget of 1,000" in refused.output
    assert "tighten it or raise budget.max_comparisons, or run with --force" in refused.output
    assert not (encoded_job / "run.json").exists()
    forced = CliRunner().invoke(app, ["link", "--config", str(job_config(encoded_job, 1000)),
                                      "--workdir", str(encoded_job), "--force"])
    assert forced.exit_code == 0, forced.output
    run = json.loads((encoded_job / "run.json").read_text())
    assert run["plan"]["max_comparisons"] == 1000
    assert run["plan"]["total"] > 1000
    assert run["plan"]["total"] == run["plan"]["passes"][-1]["cumulative"]


def test_a_pass_on_a_column_the_extracts_lack_is_left_out(con: duckdb.DuckDBPyConnection) -> None:
    columns = frozenset(r[0] for r in con.execute("DESCRIBE identities").fetchall())
    passes = [*PASSES, {"name": "passport_near", "sql": "l.tok_passport_near = r.tok_passport_near",
                        "explode": ["tok_passport_near"]}]
    counted = plan(con, rules_with(passes), Encodings({}, columns=columns))
    assert as_tuples(counted) == EXPECTED  # as the model does (linkage/model.py settings)
    assert counted.left_out == ["passport_near"]
    assert "left out (columns the extracts lack): passport_near" in counted.table()
