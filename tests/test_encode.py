"""Keyed encodings: tokens and Bloom filters, and the Dice coefficient."""

import duckdb
import polars as pl
import pytest

from linkage.rules import dice_sql
from pseudonymise.encode import BloomEncoder, dice, qgrams, token, tokens
from pseudonymise.keys import ProjectKey
from pseudonymise.spec import BloomSpec

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
