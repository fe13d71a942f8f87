"""The fast paths of `pseudonymise` give what the plain ones give: per-identity and per-name
tables across batches (and evicted), the read-ahead and write threads, the hashed index of
record ids, per-date validation."""

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

import pseudonymise.encode as encode_module
import pseudonymise.exposure as exposure_module
from benchmarks.synth import synthesise
from migralink.config import CONFIGS_DIR, JobConfig, load_config
from pseudonymise.encode import IdentityEncoder
from pseudonymise.exposure import ExposureTally
from pseudonymise.job import PseudonymiseResult, pseudonymise_source, read_ahead
from pseudonymise.keys import ProjectKey
from pseudonymise.normalise import NameRules, normalise_names
from pseudonymise.read import ROW, read_raw
from pseudonymise.spec import load_spec
from pseudonymise.validate import SeenIds, parse
from tests.conftest import write_border
from tests.test_validate import GOOD, TODAY

KEY = ProjectKey(b"s" * 32)


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw extracts of 300 synthetic persons (social security: one row per person-month)."""
    root = tmp_path_factory.mktemp("population")
    synthesise(300, 3, root)
    return root / "raw"


def job_at(root: Path, raw: Path) -> JobConfig:
    root.mkdir(parents=True)
    (root / "raw").symlink_to(raw, target_is_directory=True)
    return load_config(CONFIGS_DIR / "demo.yaml", workdir=root)


def outputs(result: PseudonymiseResult) -> tuple:
    """What a run gives, but the timestamps and the Parquet file's bytes (row groups follow
    the batches): the rows, the schema and its metadata, rejects, counts and figures."""
    manifest = json.loads(result.manifest_file.read_text())
    manifest.pop("created")
    manifest["output"].pop("sha256")
    table = pq.read_table(result.encoded_file)
    return table, table.schema.metadata, result.rejects_file.read_bytes(), manifest


def small_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables that fill up at once, so every batch evicts."""
    monkeypatch.setattr(encode_module, "IDENTITY_TABLE", 40)
    monkeypatch.setattr(encode_module, "RECENT_BATCHES", 1)
    monkeypatch.setattr(encode_module, "NAME_TABLE", 30)
    monkeypatch.setattr(exposure_module, "NAME_TABLE", 30)


@pytest.mark.parametrize(("name", "batch_rows"), [("social_security", 997), ("border", 97),
                                                  ("permits", 11), ("placements", 7)])
def test_tiny_batches_and_full_tables_give_the_same_extract(
        population: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
        batch_rows: int) -> None:
    whole = pseudonymise_source(job_at(tmp_path / "whole", population), name, KEY)
    small_tables(monkeypatch)
    batched = pseudonymise_source(job_at(tmp_path / "batched", population), name, KEY,
                                  batch_rows=batch_rows)
    table, metadata, rejects, manifest = outputs(batched)
    assert pq.ParquetFile(batched.encoded_file).num_row_groups > 3  # many batches
    assert table.num_rows == whole.counts.encoded > 50
    assert (table, metadata, rejects, manifest) == outputs(whole)
    assert manifest["counts"]["reconciles"] and manifest["frequency_attack"]


def canonical_rows(population: Path) -> pl.DataFrame:
    config = load_config(CONFIGS_DIR / "demo.yaml", workdir=population.parent)
    source = config.source("social_security")
    return parse(read_raw(population / "social_security.csv", source).rows, source,
                 TODAY).rows


def test_identities_from_the_table_equal_those_encoded_row_by_row(
        population: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = canonical_rows(population).head(2000)
    spec, rules = load_spec(CONFIGS_DIR.parent / "rules" / "encoding.yaml"), NameRules.load()
    distinct = rows.select(encode_module.IDENTITY_COLUMNS).unique().height
    assert distinct * 5 < rows.height  # a person is declared month after month
    row_by_row = pl.concat([rows.select("record_id"),
                            IdentityEncoder(spec, KEY, rules).encode_identities(rows)],
                           how="horizontal")
    small_tables(monkeypatch)
    encoder = IdentityEncoder(spec, KEY, rules)
    batches = [encoder.encode(rows.slice(start, 50)) for start in range(0, rows.height, 50)]
    assert encoder.identity_table is not None and encoder.identity_table.height <= 100
    assert pl.concat(batches).equals(row_by_row)
    # and with the table never full: every identity encoded once
    encoder = IdentityEncoder(spec, KEY, NameRules.load())
    monkeypatch.setattr(encode_module, "IDENTITY_TABLE", 1 << 19)
    assert pl.concat(encoder.encode(rows.slice(s, 200))
                     for s in range(0, rows.height, 200)).equals(row_by_row)
    assert encoder.identity_table.height == distinct


def test_identities_whose_hashes_collide_are_still_encoded_exactly(
        population: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a hash of 2 bits, most identities share their hash with another: the table holds
    at most 4 of them, the others are encoded batch by batch, all exactly."""
    rows = canonical_rows(population).head(600)
    spec, rules = load_spec(CONFIGS_DIR.parent / "rules" / "encoding.yaml"), NameRules.load()
    row_by_row = pl.concat([rows.select("record_id"),
                            IdentityEncoder(spec, KEY, rules).encode_identities(rows)],
                           how="horizontal")
    real = encode_module.table_hashes
    monkeypatch.setattr(encode_module, "table_hashes", lambda identities: real(
        identities).select(pl.col(encode_module._HASH) % 4))
    encoder = IdentityEncoder(spec, KEY, rules)
    batches = [encoder.encode(rows.slice(start, 70)) for start in range(0, rows.height, 70)]
    assert encoder.identity_table is not None and encoder.identity_table.height <= 4
    assert pl.concat(batches).equals(row_by_row)


def test_seen_ids_are_exact_even_when_every_hash_collides(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = SeenIds()
    seen.add(pl.Series(["A1", "A2", "A3"]))
    seen.add(pl.Series(["B1"]))
    batch = pl.Series(["A2", "C1", None, "B1", "C2"])
    assert sorted(seen.among(batch).to_list()) == ["A2", "B1"]
    monkeypatch.setattr(SeenIds, "_hashes",
                        staticmethod(lambda ids: pl.Series([7] * len(ids), dtype=pl.UInt32)))
    collided = SeenIds()
    collided.add(pl.Series(["A1", "A2", "A3"]))
    assert len(collided) == 3
    assert collided.among(batch).to_list() == ["A2"]


def border_rows(demo_config: JobConfig, *lines: str) -> pl.DataFrame:
    path = write_border(demo_config, *lines)
    return read_raw(path, demo_config.sources["border"]).rows


def test_repeated_ids_are_rejected_alike_with_either_kind_of_seen_ids(demo_config) -> None:
    source = demo_config.sources["border"]
    first = border_rows(demo_config, GOOD, GOOD.replace("B1;", "B2;"))
    later = border_rows(demo_config, GOOD.replace("B1;", "B3;"), GOOD.replace("B1;", "B2;"),
                        GOOD.replace("B1;", "B3;"), GOOD)
    index = SeenIds()
    index.add(first["id_passage"])
    by_index = parse(later, source, TODAY, seen_ids=index)
    by_series = parse(later, source, TODAY, seen_ids=first["id_passage"])
    assert by_index.rejects.equals(by_series.rejects)
    assert by_index.rejects.select(ROW, "reasons").rows() == [
        (3, "duplicate_record_id(id_passage)"), (4, "duplicate_record_id(id_passage)"),
        (5, "duplicate_record_id(id_passage)")]
    assert by_index.rows["record_id"].to_list() == ["B3"]


def test_a_repeat_is_the_later_row_also_out_of_file_order(demo_config) -> None:
    source = demo_config.sources["border"]
    rows = border_rows(demo_config, GOOD, GOOD.replace("B1;", "B2;"), GOOD)
    shuffled = rows[[2, 1, 0]]  # line 4 first: the repeat is still line 4, not line 2
    rejects = parse(shuffled, source, TODAY).rejects
    assert rejects.select(ROW, "reasons").rows() == [(4, "duplicate_record_id(id_passage)")]


def test_birth_dates_made_per_distinct_value_stay_with_their_rows(demo_config) -> None:
    dates = ["14/05/1970", "31/02/1970", None, "14/05/1970", "1970", "00/00/1970",
             "31/02/1970", "14/05/2090"]
    lines = [GOOD.replace("B1;", f"B{i};").replace("14/05/1970", d or "")
             for i, d in enumerate(dates)]
    parsed = parse(border_rows(demo_config, *lines), demo_config.sources["border"], TODAY)
    assert parsed.rows.select("record_id", "birth_year", "birth_month", "birth_day").rows() == [
        ("B0", 1970, 5, 14), ("B1", 1970, 2, None), ("B2", None, None, None),
        ("B3", 1970, 5, 14), ("B5", 1970, None, None), ("B6", 1970, 2, None)]
    assert parsed.notes == {"birth_date_part_unknown(date_naissance)": 2}
    assert parsed.rejects.select(ROW, "reasons").rows() == [
        (6, "bad_date(date_naissance)"), (9, "implausible_date(date_naissance)")]


def test_exposure_names_from_the_table_equal_those_normalised_anew(
        population: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = canonical_rows(population)
    monkeypatch.setattr(exposure_module, "NAME_TABLE", 25)
    rules = NameRules.load()
    tally = ExposureTally(rules, Path("."), load_spec(
        CONFIGS_DIR.parent / "rules" / "encoding.yaml").tokens.name_keys)
    for start in range(0, rows.height, 60):
        batch = rows.slice(start, 60)["family_name"]
        assert tally.normalised(batch, "family_name").equals(
            normalise_names(batch, "family_name", rules))
        assert tally.name_tables["family_name"].height <= 25 + 60


def numbers(until: int, fail_at: int | None = None) -> Iterator[int]:
    for n in range(until):
        if n == fail_at:
            raise ValueError(f"item {n}")
        yield n


def test_read_ahead_keeps_the_order_and_raises_after_the_items_before() -> None:
    assert list(read_ahead(numbers(50))) == list(range(50))
    got = []
    with pytest.raises(ValueError, match="item 3"):
        for n in read_ahead(numbers(10, fail_at=3)):
            got.append(n)
    assert got == [0, 1, 2]


def test_read_ahead_stopped_early_closes_its_source() -> None:
    closed = []

    def source() -> Iterator[int]:
        try:
            yield from range(100)
        finally:
            closed.append(True)

    ahead = read_ahead(source())
    assert [next(ahead), next(ahead)] == [0, 1]
    ahead.close()
    assert closed == [True]


def test_tokens_go_uncompressed_and_hashes_carry_no_statistics(demo_config, key) -> None:
    write_border(demo_config, GOOD, GOOD.replace("B1;", "B2;").replace("MOHAMMED", "ALI"))
    result = pseudonymise_source(demo_config, "border", key)
    group = pq.ParquetFile(result.encoded_file).metadata.row_group(0)
    stats = {group.column(i).path_in_schema: group.column(i).is_stats_set
             for i in range(group.num_columns)}
    assert not stats["tok_national_id"] and not stats["bf_given_name_w0"]
    assert stats["record_id"] and stats["birth_year"] and stats["bf_given_name_pop"]
    codecs = {group.column(i).path_in_schema: group.column(i).compression
              for i in range(group.num_columns)}
    assert codecs["tok_national_id"] == codecs["tok_ssn_near.list.element"] == "UNCOMPRESSED"
    assert codecs["bf_given_name_w0"] == codecs["record_id"] == "ZSTD"

