"""Frequency-alignment attack: what it recovers on encodings whose name counts are known."""

from pathlib import Path

import polars as pl
import pytest

from benchmarks.hardening import write_rules
from migralink.config import RULES_DIR, JobConfig
from pseudonymise.attack import (
    by_phonetic_key,
    encoding_columns,
    frequency_attack,
    load_public,
    score_attack,
)
from pseudonymise.encode import BloomEncoder, tokens
from pseudonymise.normalise import phonetic_key
from pseudonymise.spec import BloomSpec, load_spec

KEY = b"k" * 32
COUNTS = {"ali": 5, "omar": 3, "sara": 1}
IN_ORDER = {"ali": 0.5, "omar": 0.3, "sara": 0.2}


def names_of(counts: dict[str, int], years: list[int] | None = None) -> pl.DataFrame:
    """One row per record: `counts[name]` records of each name, in each birth year."""
    rows = [(name, year) for year in (years or [1980]) for name, n in counts.items()
            for _ in range(n)]
    return pl.DataFrame(rows, schema={"given_name": pl.String, "birth_year": pl.Int32},
                        orient="row")


def encode(records: pl.DataFrame, **hardening: object) -> pl.DataFrame:
    """The encoded extract the hub would see: filter words, popcount and birth year."""
    spec = BloomSpec(fields=["given_name"], **hardening)
    salts = records["birth_year"].cast(pl.String) if spec.salt == "birth_year" else None
    filters = BloomEncoder(KEY, spec).encode(records["given_name"], salts, "bf_given_name")
    return pl.concat([filters, records.select("birth_year")], how="horizontal")


def score(records: pl.DataFrame, public: dict[str, float], partition: str | None = None,
          **hardening: object) -> tuple[float, float]:
    encoded = encode(records, **hardening)
    result = frequency_attack(encoded, "given_name", public, partition)
    scored = score_attack(result, encoded, records["given_name"])
    return scored.share_records, scored.share_names


def test_public_list_in_the_same_order_recovers_every_name() -> None:
    records = names_of(COUNTS)
    result = frequency_attack(encode(records), "given_name", IN_ORDER)
    assert result.guesses.select("count", "rank", "guess").rows() == [
        (5, 1, "ali"), (3, 2, "omar"), (1, 3, "sara")]
    assert score(records, IN_ORDER) == (1.0, 1.0)


def test_public_list_in_another_order_recovers_only_what_lines_up() -> None:
    # ali (5) is taken for omar, omar (3) for ali; only sara (1) lines up
    assert score(names_of(COUNTS), {"omar": 0.5, "ali": 0.3, "sara": 0.2}) == (1 / 9, 1 / 3)


def test_encodings_beyond_the_public_list_get_no_guess_and_missing_names_do_not_count() -> None:
    records = pl.concat([names_of(COUNTS), pl.DataFrame(
        {"given_name": [None, None], "birth_year": [1980, 1980]},
        schema={"given_name": pl.String, "birth_year": pl.Int32})])
    result = frequency_attack(encode(records), "given_name", {"ali": 1.0})
    assert result.guesses["guess"].to_list() == ["ali", None, None]
    assert score(records, {"ali": 1.0}) == (5 / 9, 1 / 3)


def test_salting_by_birth_year_defeats_the_pooled_attacker() -> None:
    records = names_of(COUNTS, years=[1980, 1990])
    assert score(records, IN_ORDER) == (1.0, 1.0)
    # six salted filters: one ali filter lines up with ali, the other takes omar's place
    assert score(records, IN_ORDER, salt="birth_year") == (5 / 18, 1 / 3)


def test_partitioning_by_the_salt_restores_the_attack() -> None:
    records = names_of(COUNTS, years=[1980, 1990])
    assert score(records, IN_ORDER, "birth_year", salt="birth_year") == (1.0, 1.0)


@pytest.mark.parametrize("hardening", [{"balance": True}, {"flip_probability": 0.1},
                                       {"balance": True, "flip_probability": 0.05}])
def test_balance_and_flips_leave_filter_frequencies_unchanged(hardening: dict) -> None:
    # one name always gives one filter, so its frequency shows through any such hardening
    records = names_of(COUNTS, years=[1980, 1990])
    encoded = encode(records, **hardening)
    assert len(encoding_columns(encoded, "given_name")) == (8 if hardening.get("balance") else 4)
    assert score(records, IN_ORDER, **hardening) == (1.0, 1.0)
    assert score(records, {"omar": 0.5, "ali": 0.3, "sara": 0.2}, **hardening) == (1 / 9, 1 / 3)


def test_the_attack_reads_a_token_column_too() -> None:
    keys = pl.Series(["k1"] * 4 + ["k2"] * 2 + ["k3"])
    encoded = pl.DataFrame({"tok_given_name_key": tokens(keys, KEY)})
    result = frequency_attack(encoded, "tok_given_name_key", {"k1": 0.5, "k2": 0.3, "k3": 0.2})
    assert score_attack(result, encoded, keys).share_records == 1.0


def test_public_shares_add_up_by_phonetic_key() -> None:
    public = {"mohamed": 0.3, "mouhamed": 0.1, "omar": 0.2}
    keyed = by_phonetic_key(public, 6)
    expected: dict[str, float] = {}
    for name, share in public.items():
        key = phonetic_key(name, 6)
        expected[key] = expected.get(key, 0.0) + share
    assert keyed == pytest.approx(expected)
    assert sum(keyed.values()) == pytest.approx(0.6)


def test_public_lists_are_normalised_and_variants_add_up(tmp_path: Path) -> None:
    path = tmp_path / "public.csv"
    path.write_text("# approximate\nname,share\nMohammed,0.3\nmohamed,0.2\nEl Idrissi,0.1\n",
                    encoding="utf-8")
    assert load_public(path, "given_name") == pytest.approx({"mohamed": 0.5, "idrissi": 0.1})
    family = load_public(RULES_DIR / "names" / "family_name_frequencies.csv", "family_name")
    assert "idrissi" in family and "el idrissi" not in family
    given = load_public(RULES_DIR / "names" / "name_frequencies.csv", "given_name")
    assert max(given, key=given.__getitem__) == "mohamed"


def test_study_writes_its_own_rules_for_a_balanced_setting(demo_config: JobConfig) -> None:
    shipped = demo_config.rule(demo_config.linkage).read_text(encoding="utf-8")
    config, thresholds = write_rules({"name": "b", "balance": True, "flip_probability": 0.02},
                                     demo_config, demo_config.workdir / "rules")
    names = load_spec(config.rule(config.encoding)).bloom["names"]
    assert (names.balance, names.flip_probability, names.salt) == (True, 0.02, "none")
    # 1 - 2 x popcount x (1 - plain) / 256: the 0.45 level of the name comparisons -> 0.772
    assert thresholds == {0.95: 0.979, 0.8: 0.917, 0.6: 0.834, 0.45: 0.772}
    rules = config.rule(config.linkage).read_text(encoding="utf-8")
    assert "dice(bf_given_name) >= 0.979" in rules
    assert "dice(bf_given_name) >= 0.95\"" not in rules
    assert demo_config.rule(demo_config.linkage).read_text(encoding="utf-8") == shipped
