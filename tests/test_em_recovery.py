"""EM on data drawn from known m and u gives them back (within 0.02).

4000 persons appear once in each of two sources. Six categorical fields take uniform values
over known cardinalities, so two records of different persons agree on field f with
probability u_f = 1 / cardinality. In the second source a random m_f share of the persons
keep their value of field f, the others take a value drawn uniformly from the other values:
two records of one person agree with probability m_f exactly (no chance re-draw onto the same
value), and the second source's values stay uniform, so u_f holds for its pairs too.

u comes from random sampling, m from EM over two blocking passes: each pass blocks on one
field (f5 or f6) and cannot estimate it, the other pass does. First with splink alone, then
through migralink's own training path (linkage.model.train).
"""

from __future__ import annotations

from functools import cache

import duckdb
import numpy as np
import pandas as pd
import pytest
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from linkage.model import train
from linkage.rules import Encodings, LinkageRules

PERSONS = 4000
SEED = 20240611
# field -> (cardinality, m); u = 1 / cardinality: 0.2, 0.1, 0.04, 0.01, 0.004, 0.002
FIELDS = {"f1": (5, 0.95), "f2": (10, 0.90), "f3": (25, 0.85), "f4": (100, 0.80),
          "f5": (250, 0.75), "f6": (500, 0.90)}
TRUE_M = {f: m for f, (_, m) in FIELDS.items()}
TRUE_U = {f: 1 / k for f, (k, _) in FIELDS.items()}
# Blocking on the rarest values keeps matches at 2-10 % of the blocked pairs (N^2 / 250 and
# N^2 / 500 non-matching pairs in link_only, twice as many in dedupe_only), where EM
# separates the classes well: with passes on 1 / 100 and 1 / 200 fields (1-4 % matches) the
# estimates were off by up to 0.028 on some seeds; here m by at most 0.008 over seven seeds.
BLOCK_ON = ("f5", "f6")
TOLERANCE = 0.02
U_PAIRS = 2e6


@cache
def sources() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Source a (every person once) and source b (the same persons, fields kept or changed)."""
    rng = np.random.default_rng(SEED)
    a = {"unique_id": np.arange(PERSONS)}
    b = {"unique_id": np.arange(PERSONS)}  # the same numbers: person i is a.i and b.i
    for field, (cardinality, m) in FIELDS.items():
        # every value equally often, in random order: shares exactly 1 / cardinality
        values = rng.permutation(np.arange(PERSONS) % cardinality)
        # a random m * N of the persons keep their value: each with probability m, and the
        # true pairs agree at exactly m (not m plus binomial noise of sd 0.007 at N = 4000)
        keep = rng.permutation(PERSONS) < round(m * PERSONS)
        # another value, uniform over the cardinality - 1 others
        other = (values + rng.integers(1, cardinality, PERSONS)) % cardinality
        a[field] = values
        b[field] = np.where(keep, values, other)
    return pd.DataFrame(a), pd.DataFrame(b)


def agree_level(model: dict, name: str) -> dict:
    """The 'agree' level of a comparison in a saved model: the first that is neither the
    null level nor the else level."""
    comparison = next(c for c in model["comparisons"] if c["output_column_name"] == name)
    return next(lv for lv in comparison["comparison_levels"]
                if not lv.get("is_null_level") and lv["sql_condition"].upper() != "ELSE")


def estimates(model: dict) -> tuple[dict, dict]:
    """m and u of the agree level of each field's comparison (named as the field)."""
    levels = {f: agree_level(model, f) for f in FIELDS}
    return ({f: lv["m_probability"] for f, lv in levels.items()},
            {f: lv["u_probability"] for f, lv in levels.items()})


def misses(estimated: dict[str, float], truth: dict[str, float]) -> dict[str, tuple]:
    """Fields whose estimate is more than TOLERANCE from the truth."""
    return {f: (round(estimated[f], 4), round(truth[f], 4)) for f in truth
            if abs(estimated[f] - truth[f]) > TOLERANCE}


def test_the_data_follow_m_and_u() -> None:
    """The generator itself: true pairs agree at m exactly, each value has its share, and
    records of different persons agree at about u."""
    a, b = sources()
    shuffled = np.random.default_rng(1).permutation(PERSONS)
    others = shuffled != np.arange(PERSONS)
    for field, (cardinality, _) in FIELDS.items():
        assert (a[field] == b[field]).mean() == TRUE_M[field]
        assert (a[field].value_counts() == PERSONS // cardinality).all()
        assert b[field].nunique() == cardinality
        # 4000 pairs of different persons: u within 3.5 standard deviations (0.022 at 0.2)
        agree = a[field].to_numpy()[others] == b[field].to_numpy()[shuffled][others]
        assert agree.mean() == pytest.approx(TRUE_U[field], abs=0.025)


@cache
def splink_model() -> dict:
    a, b = sources()
    db_api = DuckDBAPI(connection=duckdb.connect())
    tables = [db_api.register(a, dataset_display_name="a"),
              db_api.register(b, dataset_display_name="b")]
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[cl.ExactMatch(f) for f in FIELDS],
        blocking_rules_to_generate_predictions=[block_on(f) for f in BLOCK_ON],
        probability_two_random_records_match=1 / PERSONS,
    )
    linker = Linker(tables, settings, log_level=None)
    # splink samples records, not pairs: about sqrt(2e6) per side, whose value shares set
    # the error (at most 0.007 over seven seeds), not the binomial 0.0003 of 2e6 pairs
    linker.training.estimate_u_using_random_sampling(max_pairs=U_PAIRS, seed=SEED)
    for field in BLOCK_ON:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(field))
    return linker.misc.save_model_to_json()


def test_splink_em_recovers_m_and_u() -> None:
    m_hat, u_hat = estimates(splink_model())
    assert misses(m_hat, TRUE_M) == {}
    assert misses(u_hat, TRUE_U) == {}


def test_the_check_would_catch_wrong_values() -> None:
    """A discriminating test: m or u off by 0.05 is caught on every field."""
    m_hat, u_hat = estimates(splink_model())
    assert set(misses(m_hat, {f: m - 0.05 for f, m in TRUE_M.items()})) == set(FIELDS)
    assert set(misses(u_hat, {f: u + 0.05 for f, u in TRUE_U.items()})) == set(FIELDS)


@cache
def migralink_model() -> dict:
    """The same data as one `identities` table (dedupe_only over both sources, as
    linkage.load makes it), trained by linkage.model.train from rules built here."""
    a, b = sources()
    identities = pd.concat([
        frame.assign(unique_id=[f"{name}:{i}" for i in frame["unique_id"]],
                     source_dataset=name)
        .rename(columns={f: f"tok_{f}" for f in FIELDS})
        for name, frame in (("a", a), ("b", b))
    ], ignore_index=True)
    con = duckdb.connect()
    con.register("frame", identities)
    con.execute("CREATE TABLE identities AS SELECT * FROM frame")
    con.unregister("frame")
    rules = LinkageRules.model_validate({
        "version": 1,
        "blocking": [{"name": f, "sql": f"l.tok_{f} = r.tok_{f}"} for f in BLOCK_ON],
        "comparisons": [{"name": f, "levels": [
            {"label": "missing", "sql": f"null(tok_{f})", "null_level": True},
            {"label": "same", "sql": f"l.tok_{f} = r.tok_{f}"},
            {"label": "different", "else": True}]} for f in FIELDS],
        "training": {
            # almost only true pairs agree on f4, f5 and f6 together (1 in 12.5 million others)
            "deterministic": ["l.tok_f4 = r.tok_f4 AND l.tok_f5 = r.tok_f5 "
                              "AND l.tok_f6 = r.tok_f6"],
            "deterministic_recall": TRUE_M["f4"] * TRUE_M["f5"] * TRUE_M["f6"],
            "u_max_pairs": U_PAIRS,
            "seed": SEED,
            "em_passes": [f"l.tok_{f} = r.tok_{f}" for f in BLOCK_ON],
        },
    })
    return train(con, rules, Encodings({})).model_json()


def test_migralink_training_recovers_m_and_u() -> None:
    m_hat, u_hat = estimates(migralink_model())
    assert misses(m_hat, TRUE_M) == {}
    assert misses(u_hat, TRUE_U) == {}
    assert set(misses(m_hat, {f: m - 0.05 for f, m in TRUE_M.items()})) == set(FIELDS)
