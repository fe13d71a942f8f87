"""Keyed encodings: tokens and Bloom filters, and the Dice coefficient."""

import duckdb
import polars as pl
import pytest

from linkage.rules import dice_sql
from migralink.config import RULES_DIR
from migralink.schema import DOC_TYPES
from pseudonymise.encode import (
    BloomEncoder,
    IdentityEncoder,
    date_texts,
    dice,
    qgrams,
    salt_values,
    token,
    tokens,
)
from pseudonymise.keys import ProjectKey
from pseudonymise.normalise import NameRules
from pseudonymise.spec import BloomSpec, load_spec

KEY_A = ProjectKey(b"a" * 32)
KEY_B = ProjectKey(b"b" * 32)
SPEC = BloomSpec(fields=["given_name"], qgram=2, bits=256, hashes_per_qgram=8)


def test_token_is_deterministic_and_keyed() -> None:
    key_a, key_b = KEY_A.field_key("doc/passport"), KEY_B.field_key("doc/passport")
    assert token(key_a, "AB123") == token(key_a, "AB123")
    assert token(key_a, "AB123") != token(key_b, "AB123")
    assert token(key_a, "AB123") != token(key_a, "AB124")
    assert 0 <= token(key_a, "AB123") < 2**64


def test_field_keys_differ_by_purpose() -> None:
    assert KEY_A.field_key("doc/passport") != KEY_A.field_key("doc/permit")
    assert token(KEY_A.field_key("doc/passport"), "X1") != token(KEY_A.field_key("doc/permit"),
                                                                 "X1")


def test_tokens_keep_nulls_and_repeat_values() -> None:
    out = tokens(pl.Series(["x", None, "x", "y"]), b"k" * 32)
    assert out[1] is None
    assert out[0] == out[2] != out[3]


def test_qgrams_are_padded_per_word() -> None:
    assert qgrams("ali", 2) == ["_a", "al", "li", "i_"]
    assert qgrams("ab ab", 2) == ["_a", "ab", "b_"]


def test_bloom_same_input_same_filter_other_key_other_filter() -> None:
    a1 = BloomEncoder(KEY_A.field_key("bloom/names"), SPEC).words("mohamed")
    a2 = BloomEncoder(KEY_A.field_key("bloom/names"), SPEC).words("mohamed")
    b = BloomEncoder(KEY_B.field_key("bloom/names"), SPEC).words("mohamed")
    assert list(a1) == list(a2)
    assert list(a1) != list(b)
    assert len(a1) == 4


def test_bloom_sets_at_most_k_bits_per_qgram() -> None:
    encoder = BloomEncoder(b"k" * 32, SPEC)
    ones = sum(int(w).bit_count() for w in encoder.words("ali"))
    assert 1 <= ones <= 4 * 8  # 4 q-grams, 8 positions each, collisions only reduce it


def test_salt_changes_the_filter() -> None:
    encoder = BloomEncoder(b"k" * 32, SPEC)
    assert list(encoder.words("ali", "1970")) != list(encoder.words("ali", "1971"))


def test_dice_against_hand_computed_value() -> None:
    # |A| = 3 bits, |B| = 3 bits, |A & B| = 2 bits: Dice = 2*2 / (3+3) = 0.6667
    a, b = [0b1011, 0], [0b0011, 0b1]
    assert dice(a, b) == pytest.approx(4 / 6)
    assert dice(a, a) == 1.0
    assert dice([0, 0], [0, 0]) == 0.0


def test_dice_sql_equals_python_dice() -> None:
    a, b = [0b1011, 1 << 63], [0b0011, (1 << 63) | 1]
    # |A| = 4, |B| = 4, |A & B| = 3: Dice = 6/8
    con = duckdb.connect()
    con.execute("CREATE TABLE l AS SELECT ?::UBIGINT AS f_w0, ?::UBIGINT AS f_w1, 4 AS f_pop", a)
    con.execute("CREATE TABLE r AS SELECT ?::UBIGINT AS f_w0, ?::UBIGINT AS f_w1, 4 AS f_pop", b)
    value = con.execute(f"SELECT {dice_sql('f', 'f', 2)} FROM l, r").fetchone()[0]
    assert value == pytest.approx(0.75) == pytest.approx(dice(a, b))


def test_similar_names_score_higher_than_different_ones() -> None:
    encoder = BloomEncoder(b"k" * 32, SPEC)
    close = dice(encoder.words("mohamed"), encoder.words("mhamed"))
    far = dice(encoder.words("mohamed"), encoder.words("fatima"))
    assert close > 0.75 > 0.35 > far


def test_encode_broadcasts_per_distinct_value() -> None:
    frame = BloomEncoder(b"k" * 32, SPEC).encode(
        pl.Series(["ali", None, "ali"]), None, "bf_given_name")
    assert frame.columns == [f"bf_given_name_w{i}" for i in range(4)] + ["bf_given_name_pop"]
    assert frame.row(0) == frame.row(2)
    assert frame.row(1) == (None,) * 5


def test_column_tokens_equal_the_reference_hmac() -> None:
    values = ["AB123", "Ébène", "x" * 200, "", "AB123"]
    key = KEY_A.field_key("doc/passport")
    assert tokens(pl.Series(values), key).to_list() == [token(key, v) for v in values]


@pytest.mark.parametrize("hardening", [{"balance": True}, {"flip_probability": 0.1},
                                       {"balance": True, "flip_probability": 0.05}])
def test_hardened_filters_are_deterministic_and_still_similar(hardening: dict) -> None:
    spec = SPEC.model_copy(update=hardening)
    encoder = BloomEncoder(b"k" * 32, spec)
    a, again = encoder.words("mohamed"), BloomEncoder(b"k" * 32, spec).words("mohamed")
    assert list(a) == list(again) and len(a) == spec.words
    close = dice(a, encoder.words("mouhamed"))
    far = dice(a, encoder.words("fatima"))
    assert close > far
    if spec.balance:  # every balanced filter has exactly `bits` ones
        assert sum(int(w).bit_count() for w in a) == spec.bits


def test_name_sets_ignore_order() -> None:
    from pseudonymise.encode import name_sets

    out = name_sets(pl.Series(["ali ben", "omar", None, None]),
                    pl.Series(["omar", "ali ben", None, "diop"]))
    assert out.to_list() == ["ali ben omar", "ali ben omar", None, "diop"]


# --- Hardening by identity, salts and combined blocking tokens -------------------------------

def identity_rows(*rows: tuple) -> pl.DataFrame:
    """Canonical rows (given, family, year, month, day) with the other columns empty."""
    frame = pl.DataFrame(rows, schema={"given_name": pl.String, "family_name": pl.String,
                                       "birth_year": pl.Int32, "birth_month": pl.Int32,
                                       "birth_day": pl.Int32}, orient="row")
    empty = {f"doc_{t}": pl.lit(None, pl.String) for t in DOC_TYPES}
    return frame.with_columns(record_id=pl.int_range(pl.len()).cast(pl.String),
                              sex=pl.lit("M"), nationality=pl.lit("MAR"),
                              address=pl.lit(None, pl.String), **empty)


def encoder(**names_spec: object) -> IdentityEncoder:
    spec = load_spec(RULES_DIR / "encoding.yaml")
    names = spec.bloom["names"].model_copy(update=names_spec)
    return IdentityEncoder(spec.model_copy(update={"bloom": {**spec.bloom, "names": names}}),
                           KEY_A, NameRules.load())


def filter_words(encoded: pl.DataFrame, row: int, field: str = "given_name") -> list[int]:
    return [encoded[f"bf_{field}_w{w}"][row] for w in range(4)]


def test_identity_flips_give_namesakes_different_filters() -> None:
    rows = identity_rows(("Mohamed", "Alaoui", 1980, 5, 14), ("MOHAMMED", "ALAOUI", 1980, 5, 14),
                         ("Mohamed", "Bennani", 1975, 2, 3), ("Mohamed", "Alaoui", 1980, 5, 14))
    plain = encoder(identity_flips=0).encode(rows)
    flipped = encoder(identity_flips=8).encode(rows)
    # one identity (after normalisation), one filter: records of one person still collapse
    assert filter_words(flipped, 0) == filter_words(flipped, 1) == filter_words(flipped, 3)
    # two persons named Mohamed: the plain filters are equal, the flipped ones are not
    assert filter_words(plain, 0) == filter_words(plain, 2)
    assert filter_words(flipped, 0) != filter_words(flipped, 2)
    # each flipped filter is its plain filter with at most 8 bits toggled
    toggled = sum((a ^ b).bit_count() for a, b in zip(filter_words(plain, 2),
                                                       filter_words(flipped, 2), strict=True))
    assert 1 <= toggled <= 8
    assert flipped["bf_given_name_pop"][2] == sum(w.bit_count() for w in filter_words(flipped, 2))
    assert dice(filter_words(flipped, 0), filter_words(flipped, 2)) > 0.75


def test_a_missing_name_stays_missing_when_flipped() -> None:
    flipped = encoder(identity_flips=8).encode(identity_rows((None, "Alaoui", 1980, 5, 14)))
    assert flipped["bf_given_name_pop"][0] is None and flipped["bf_given_name_w0"][0] is None
    assert flipped["bf_family_name_pop"][0] is not None


def test_birth_date_salt_treats_every_year_only_date_alike() -> None:
    rows = identity_rows(("Ali", "Omar", 1970, None, None), ("Ali", "Omar", 1970, 1, 1),
                         ("Ali", "Omar", 1970, 12, 31), ("Ali", "Omar", 1970, 6, 2),
                         ("Ali", "Omar", None, None, None))
    dates = date_texts(rows.select("birth_year", "birth_month", "birth_day"))
    assert salt_values(rows, dates, "birth_date").to_list() == [
        "1970", "1970", "1970", "1970-06-02", ""]
    encoded = encoder(salt="birth_date", identity_flips=0).encode(rows)
    salts = encoded["tok_salt_names"].to_list()
    assert salts[0] == salts[1] == salts[2] != salts[3] and salts[4] is None
    assert filter_words(encoded, 0) == filter_words(encoded, 1) != filter_words(encoded, 3)


def test_name_keys_go_out_only_combined() -> None:
    rows = identity_rows(("Youssef", "Alaoui", 1980, 5, 14), ("Alaoui", "Yusuf", 1980, 5, 14),
                         ("Youssef", "Alaoui", 1981, 5, 14),
                         ("Youssef", "Alaoui", 1980, None, None))
    encoded = encoder().encode(rows)
    assert not [c for c in encoded.columns if c in ("tok_given_name_key", "tok_family_name_key")]
    keys = encoded["tok_name_keys"]
    assert keys[0] == keys[1] == keys[2]      # swapped names agree; a wrong year still blocks
    assert encoded["tok_dob_given_key"][3] is None              # no full date, no token
    assert encoded["tok_dob_given_key"][0] != encoded["tok_dob_given_key"][1]
    # the same parts under another purpose's key give another token
    assert encoded["tok_dob_given_key"][0] != encoded["tok_dob_family_key"][0]


def test_identity_flips_need_a_name_field() -> None:
    with pytest.raises(ValueError, match="identity_flips"):
        BloomSpec(fields=["address"], identity_flips=4)
    assert BloomSpec(fields=["given_name"], identity_flips=4).identity_flips == 4


def test_near_tokens_share_one_token_across_one_keying_error() -> None:
    """Symmetric deletion neighbourhood: one wrong digit, two adjacent digits swapped, one
    digit missing share a token with the original; two wrong digits far apart do not."""
    from benchmarks.bench_encode import near_variants
    from pseudonymise.encode import near_tokens, token

    key = b"k" * 32
    original, *others = ["9564208", "9564008", "9564028", "956208", "1564201", None]
    lists = near_tokens(pl.Series("n", [original, *others]), key).to_list()
    first = set(lists[0])
    shared = [len(first & set(other)) > 0 for other in lists[1:5]]
    assert shared == [True, True, True, False]
    assert lists[5] is None
    # 7 characters: the whole number and 7 left-out variants, as the reference makes them
    assert lists[0] == [token(key, v) for v in near_variants(original)] and len(lists[0]) == 8


def test_day_month_token_is_the_date_without_its_year() -> None:
    """tok_dob_day_month: HMAC of MM-DD under its own key, only for a whole date; a year keyed
    wrong (1990 for 1999) keeps it, another day does not."""
    rows = identity_rows(("Modou", "Mbengue", 1999, 12, 9), ("Modou", "Mbengue", 1990, 12, 9),
                         ("Modou", "Mbengue", 1999, 12, 19), ("Modou", "Mbengue", 1999, None, None),
                         ("Modou", "Mbengue", None, 12, 9))
    tokens_ = encoder().encode(rows)["tok_dob_day_month"].to_list()
    assert tokens_[0] == tokens_[1] == token(KEY_A.field_key("dob/day_month"), "12-09")
    assert tokens_[2] == token(KEY_A.field_key("dob/day_month"), "12-19")
    assert tokens_[3] is None and tokens_[4] is None
    # its own key: not the token a full date or a year-month would give for the same text
    assert tokens_[0] != token(KEY_A.field_key("dob/year_month"), "12-09")


def test_permit_numbers_one_slip_apart_share_a_near_token() -> None:
    """documents.near lists permits: a permit number copied onto a declaration with one digit
    wrong (P387292692 for P387292682, the 9th character) shares the token of P38729262."""
    rows = identity_rows(*[("Amadou", "Sarr", 1987, 6, 2)] * 3).with_columns(
        doc_permit=pl.Series(["P387292682", "P387292692", "P958543765"]))
    near = encoder().encode(rows)["tok_permit_near"].to_list()
    key = KEY_A.field_key("doc/permit/near")
    assert set(near[0]) & set(near[1]) == {token(key, "P38729262")}
    assert not set(near[0]) & set(near[2])
    assert len(near[0]) == 11  # the number and its 10 one-character-shorter variants
