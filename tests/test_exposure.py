"""Frequency-attack figures a producer writes in its manifest (pseudonymise/exposure.py)."""

from pathlib import Path

import polars as pl
import pytest

from migralink.config import RULES_DIR
from pseudonymise.encode import IdentityEncoder
from pseudonymise.exposure import ExposureTally, N, recovered_share
from pseudonymise.keys import ProjectKey
from pseudonymise.normalise import NameRules
from pseudonymise.spec import load_spec
from tests.test_encode import identity_rows

# encodings e1 (3 records: 2 ali, 1 omar), e2 (2 records: omar), e3 (1: ali)
COUNTS = pl.DataFrame({"enc": ["e1", "e1", "e2", "e3"], "truth": ["ali", "omar", "omar", "ali"],
                       N: [2, 1, 2, 1]}, schema_overrides={N: pl.UInt32})
PUBLIC = {"ali": 0.6, "omar": 0.4}


def test_recovered_share_by_hand() -> None:
    # ranks: e1 (3) -> ali, e2 (2) -> omar, e3 (1) -> beyond the list: 2 + 2 of 6 recovered
    assert recovered_share(COUNTS, ["enc"], "truth", PUBLIC, []) == round(4 / 6, 4)


@pytest.fixture
def names_dir(tmp_path: Path) -> Path:
    (tmp_path / "name_frequencies.csv").write_text("name,share\nali,0.5\nomar,0.3\nsara,0.2\n")
    (tmp_path / "family_name_frequencies.csv").write_text("name,share\nalaoui,1.0\n")
    return tmp_path


def tally(rows: pl.DataFrame, names_dir: Path, flips: int) -> dict:
    spec = load_spec(RULES_DIR / "encoding.yaml")
    names = spec.bloom["names"].model_copy(update={"identity_flips": flips})
    spec = spec.model_copy(update={"bloom": {**spec.bloom, "names": names}})
    rules = NameRules.load()
    encoded = IdentityEncoder(spec, ProjectKey(b"t" * 32), rules).encode(rows)
    exposure = ExposureTally(rules, names_dir, spec.tokens.name_keys)
    exposure.add(rows, encoded)
    return exposure.figures()["given_name"]


def test_identity_flips_defeat_the_attack_that_reads_plain_filters(names_dir: Path) -> None:
    # 6 persons named Ali with 2 records each, 3 Omar with 3, 1 Sara with 4 (25 records),
    # each person with another birth date
    people = [(name, f"Fam{i}", 1980, 1 + i, 1 + i) for i, name in
              enumerate(["Ali"] * 6 + ["Omar"] * 3 + ["Sara"])]
    records = {"Ali": 2, "Omar": 3, "Sara": 4}
    rows = identity_rows(*(p for p in people for _ in range(records[p[0]])))
    plain, flipped = tally(rows, names_dir, 0), tally(rows, names_dir, 8)
    # unhardened, one filter per name: 12, 9 and 4 records line up with the public list
    assert plain["filter_as_configured"]["pooled"] == 1.0
    assert flipped["unhardened_filter"]["pooled"] == 1.0
    # flipped, one filter per person, ranked by records: Sara (4) is taken for ali, an Omar
    # (3) for omar (a hit: 3 records), another Omar for sara; 3 of 25 recovered, exactly
    # what ranking the persons by their records alone gives
    assert flipped["filter_as_configured"]["pooled"] == 0.12
    assert flipped["filter_as_configured"]["counts_alone"]["pooled"] == 0.12
    assert plain["filter_as_configured"]["counts_alone"]["pooled"] == 0.12


def test_a_large_extract_is_tallied_on_a_consistent_sample(names_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr("pseudonymise.exposure.MAX_TALLY", 40)
    spec = load_spec(RULES_DIR / "encoding.yaml")
    rules = NameRules.load()
    encoder = IdentityEncoder(spec, ProjectKey(b"t" * 32), rules)
    exposure = ExposureTally(rules, names_dir, spec.tokens.name_keys)
    people = [("Ali", "Alaoui", 1900 + i, 1 + i % 12, 1 + i % 28) for i in range(100)]
    for _ in range(3):  # every person has one record in each of three batches
        batch = identity_rows(*people)
        exposure.add(batch, encoder.encode(batch))
    exposure._compact()
    assert exposure.sample < 1
    (tally,) = exposure.parts["given_name"]
    assert 0 < tally.height <= 20
    # an identity is in the sample with all its records, or not at all
    assert tally.group_by("_identity").agg(pl.col(N).sum())[N].to_list() == [3] * tally.height
    assert 100 * exposure.sample / 3 < tally.height < 100 * exposure.sample * 3
