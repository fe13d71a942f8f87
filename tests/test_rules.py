"""Linkage rules: loading, macros, and the splink settings made from them."""

import re
from fractions import Fraction
from pathlib import Path

import duckdb
import pytest

from linkage.model import settings
from linkage.rules import (
    NEVER,
    Encodings,
    as_comparison_sql,
    expand,
    flipped_dice,
    load_rules,
    unflipped_popcount,
)
from migralink.config import RULES_DIR
from migralink.errors import ConfigError

PLAIN = Encodings({"bf_given_name": 4, "bf_family_name": 4})
SALTED = Encodings({"bf_given_name": 4, "bf_family_name": 4},
                   {"bf_given_name": "birth_year", "bf_family_name": "birth_year"})


def test_dice_macro() -> None:
    sql = expand("dice(bf_given_name) >= 0.8", Encodings({"bf_given_name": 2}))
    # 0.8 = 4/5: 2|A & B| * 5 >= 4 (|A| + |B|), in integers
    assert sql == ("(CAST(bit_count(l.bf_given_name_w0 & r.bf_given_name_w0) + "
                   "bit_count(l.bf_given_name_w1 & r.bf_given_name_w1) AS BIGINT) * 10 >= "
                   "4 * CAST(nullif(l.bf_given_name_pop + r.bf_given_name_pop, 0) AS BIGINT))")
    assert "r.bf_family_name_w3" in expand("dice(bf_given_name, bf_family_name)", PLAIN)
    assert expand("dice(bf_given_name) > 0.8", PLAIN, exact=False).startswith("(2.0 * (")


@pytest.mark.parametrize(("common", "expected"), [(9, True), (8, False)])
def test_dice_bound_is_exact_at_the_bound(common: int, expected: bool) -> None:
    """|A| = |B| = 20: 9 common bits give Dice 18/40 = 0.45 exactly, on the bound; 8 give
    0.40. Both forms of the bound agree, and the old one (DECIMAL division) is the reference."""
    con = duckdb.connect()
    a = (1 << 20) - 1
    b = ((1 << common) - 1) | (((1 << (20 - common)) - 1) << 32)
    con.execute("CREATE TABLE l AS SELECT ?::UBIGINT AS f_w0, 20::SMALLINT AS f_pop", [a])
    con.execute("CREATE TABLE r AS SELECT ?::UBIGINT AS f_w0, 20::SMALLINT AS f_pop", [b])
    encodings = Encodings({"f": 1})
    for exact in (True, False):
        sql = expand("dice(f) >= 0.45", encodings, exact)
        assert con.execute(f"SELECT {sql} FROM l, r").fetchall() == [(expected,)]


def test_null_and_salt_macros() -> None:
    assert expand("null(bf_given_name)", PLAIN) == \
        "(l.bf_given_name_pop IS NULL OR r.bf_given_name_pop IS NULL)"
    assert expand("null(tok_ssn)", PLAIN) == "(l.tok_ssn IS NULL OR r.tok_ssn IS NULL)"
    assert expand("salt_differs(bf_given_name)", PLAIN) == NEVER
    assert expand("salt_differs(bf_given_name)", SALTED) == \
        "(l.birth_year IS DISTINCT FROM r.birth_year)"


def test_unknown_filter_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no Bloom filter 'bf_nickname'"):
        expand("dice(bf_nickname) > 0.5", PLAIN)
    with pytest.raises(ConfigError, match="filters differ in length"):
        expand("dice(bf_given_name, bf_x)", Encodings({"bf_given_name": 4, "bf_x": 8}))


def test_comparison_sql_uses_suffixes() -> None:
    assert as_comparison_sql("l.tok_ssn = r.tok_ssn AND l.x_w0 > 1") == \
        "tok_ssn_l = tok_ssn_r AND x_w0_l > 1"


def test_salted_filters_get_a_null_level_plain_ones_do_not() -> None:
    rules = load_rules(RULES_DIR / "linkage" / "default.yaml")
    plain, salted = settings(rules, PLAIN), settings(rules, SALTED)

    def labels(model: dict, name: str) -> list[str]:
        comparison = next(c for c in model["comparisons"] if c["output_column_name"] == name)
        return [level["label_for_charts"] for level in comparison["comparison_levels"]]

    assert "not comparable: salted differently" not in labels(plain, "given_name")
    assert labels(salted, "given_name")[:2] == ["missing", "not comparable: salted differently"]
    assert len(labels(salted, "family_name")) == len(labels(plain, "family_name")) + 1


def test_encodings_from_a_manifest_spec() -> None:
    columns = [f"bf_given_name_w{i}" for i in range(4)] + ["bf_given_name_pop", "tok_ssn"]
    spec = {"bloom": {"names": {"fields": ["given_name"], "salt": "birth_year"}}}
    assert Encodings.of(columns, spec) == Encodings({"bf_given_name": 4},
                                                    {"bf_given_name": "birth_year"},
                                                    columns=frozenset(columns))
    assert Encodings.of(columns, {}).salts == {}


def test_flipped_dice_by_hand() -> None:
    # 50 of 256 bits set, 8 toggled on each side: equal names keep 50 * (1 - 16/256) = 46.875
    # shared bits of 50 + 8 * 156/256 = 54.875 each; disjoint ones gain 16 * 50/256 = 3.125
    assert flipped_dice(1.0, 50, 256, 8) == pytest.approx(46.875 / 54.875)
    assert flipped_dice(0.0, 50, 256, 8) == pytest.approx(3.125 / 54.875)
    assert flipped_dice(0.8, 50, 256, 0) == pytest.approx(0.8)
    assert unflipped_popcount(54.875, 256, 8) == pytest.approx(50)


def test_dice_bounds_follow_identity_flips() -> None:
    columns = [f"bf_given_name_w{i}" for i in range(4)] + ["bf_given_name_pop"]
    spec = {"bloom": {"names": {"fields": ["given_name"], "salt": "none", "identity_flips": 8}}}
    flipped = Encodings.of(columns, spec, {"bf_given_name": 54.875})
    assert flipped.popcounts == {"bf_given_name": pytest.approx(50)}
    bound = Fraction(str(round(flipped_dice(0.95, 50, 256, 8), 4)))
    assert f"* {2 * bound.denominator} >= {bound.numerator} * " in \
        expand("dice(bf_given_name) >= 0.95", flipped)
    assert "* 40 >= 19 * " in expand("dice(bf_given_name) >= 0.95", PLAIN)
    with pytest.raises(ConfigError, match="popcount"):
        expand("dice(bf_given_name) >= 0.95", Encodings.of(columns, spec))


def test_rules_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("version: 1\nblocking: []\ncomparisons: []\ntraining: {deterministic: [], "
                    "em_passes: []}\n")
    with pytest.raises(ConfigError, match=r"r.yaml: blocking: List should have at least 1"):
        load_rules(path)


def test_rules_reading_absent_columns_are_left_out() -> None:
    """A spec without documents.near: the near level and pass drop out, the rest stays."""
    rules = load_rules(RULES_DIR / "linkage" / "default.yaml")
    columns = [f"bf_{f}_w{i}" for f in ("given_name", "family_name") for i in range(4)] + [
        "bf_given_name_pop", "bf_family_name_pop", "tok_ssn", "tok_national_id",
        "tok_passport", "tok_permit", "tok_dob_full", "tok_dob_full_transposed",
        "tok_dob_year_month", "tok_dob_year", "tok_dob_day_month", "tok_dob_given_key",
        "tok_dob_family_key", "tok_name_keys", "dob_placeholder", "birth_year", "sex",
        "nationality"]
    model = settings(rules, Encodings.of(columns, {}))
    passes = [b["blocking_rule"] for b in model["blocking_rules_to_generate_predictions"]]
    assert len(passes) == len(rules.blocking) - 4 and not any("_near" in p for p in passes)
    ssn = next(c for c in model["comparisons"] if c["output_column_name"] == "ssn")
    assert [lv["label_for_charts"] for lv in ssn["comparison_levels"]] == [
        "missing", "same", "different"]


@pytest.mark.parametrize(("edit", "named"), [
    (("l.tok_permit = r.tok_permit\"}", "l.tok_permitt = r.tok_permitt\"}"),
     "blocking pass 'permit' reads tok_permitt"),
    (("tf: tok_passport}", "tf: tok_pasport}"),
     "comparison 'passport', level 'same' reads tok_pasport"),
    (("{label: same, sql: \"l.sex = r.sex\"}", "{label: same, sql: \"l.sexe = r.sexe\"}"),
     "comparison 'sex', level 'same' reads sexe"),
    (("- \"l.tok_passport = r.tok_passport\"\n", "- \"l.tok_pasport = r.tok_pasport\"\n"),
     "training.em_passes rule 'l.tok_pasport = r.tok_pasport' reads tok_pasport"),
])
def test_a_misspelt_column_is_named(tmp_path: Path, edit: tuple[str, str], named: str) -> None:
    """Only the optional near tokens may be missing; any other column is a mistake."""
    from linkage.rules import check_columns

    text = (RULES_DIR / "linkage" / "default.yaml").read_text()
    assert edit[0] in text
    path = tmp_path / "rules.yaml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    columns = [f"bf_{f}_w{i}" for f in ("given_name", "family_name") for i in range(4)] + [
        "bf_given_name_pop", "bf_family_name_pop", "tok_ssn", "tok_ssn_near", "tok_national_id",
        "tok_passport", "tok_permit", "tok_dob_full", "tok_dob_full_transposed",
        "tok_dob_year_month", "tok_dob_year", "tok_dob_day_month", "tok_dob_given_key",
        "tok_dob_family_key", "tok_name_keys", "dob_placeholder", "birth_year", "sex",
        "nationality"]
    encodings = Encodings.of(columns, {})
    check_columns(load_rules(RULES_DIR / "linkage" / "default.yaml"), encodings, "default")
    with pytest.raises(ConfigError, match=re.escape(named)):
        check_columns(load_rules(path), encodings, str(path))


def test_a_condition_that_is_not_sql_is_named(tmp_path: Path) -> None:
    import duckdb

    from linkage.rules import check_sql

    con = duckdb.connect()
    con.execute("CREATE TABLE identities (tok_permit UBIGINT, tok_passport UBIGINT)")
    encodings = Encodings({}, columns=frozenset(["tok_permit", "tok_passport"]))
    text = "version: 1\nblocking:\n  - {name: permit, sql: \"l.tok_permit == = r.tok_permit\"}\n" \
           "comparisons:\n  - name: passport\n    levels:\n" \
           "      - {label: same, sql: \"l.tok_passport = r.tok_passport\"}\n" \
           "      - {label: different, else: true}\n" \
           "training: {deterministic: [\"l.tok_passport = r.tok_passport\"], " \
           "em_passes: [\"l.tok_passport = r.tok_passport\"]}\n"
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="blocking pass 'permit': not valid SQL"):
        check_sql(con, load_rules(path), encodings, str(path))
    path.write_text(text.replace("== =", "="))
    check_sql(con, load_rules(path), encodings, str(path))  # valid: no error
