"""Hardening study: for each setting of the names Bloom group, run the demo pipeline on one
synthetic population and measure pair quality and what a frequency-alignment attacker
re-identifies in the border and social-security extracts (pseudonymise/attack.py).

    python -m benchmarks.hardening [--persons 20000] [--seed 1]   # one JSON line per setting

Each setting gets its own encoding spec (and, where the Dice thresholds change, linkage rules)
in a temporary directory; the shipped rules are never edited. Only figures are printed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import yaml

from benchmarks.evaluate import evaluate
from benchmarks.synth import synthesise
from linkage.job import run_link
from linkage.load import IDENTITY_CODES, IDENTITY_PREFIXES
from migralink.config import CONFIGS_DIR, RULES_DIR, JobConfig, load_config
from migralink.demo import demo_key
from pseudonymise.attack import (
    AttackScore,
    by_phonetic_key,
    frequency_attack,
    load_public,
    recovered,
    score_hits,
)
from pseudonymise.exposure import key_tokens
from pseudonymise.job import pseudonymise_source
from pseudonymise.normalise import folder_sha256, normalise_names, phonetic_keys
from pseudonymise.read import read_raw
from pseudonymise.spec import NameKeyTokens, file_sha256, load_spec

ATTACKED = ("border", "social_security")
FIELDS = ("given_name", "family_name")
PUBLIC = {"given_name": "name_frequencies.csv", "family_name": "family_name_frequencies.csv"}
PARTITIONS = {"pooled": None, "birth_year": "birth_year"}
BLOOM_OPTIONS = ("salt", "balance", "flip_probability", "identity_flips")
# Median popcount of a plain 256-bit name filter in the demo (given 52, family 55).
TYPICAL_POPCOUNT = 53

# Every setting starts from no hardening at all, whatever rules/encoding.yaml ships.
UNHARDENED = {"salt": "none", "balance": False, "flip_probability": 0.0, "identity_flips": 0}
SETTINGS: list[dict] = [
    {"name": "none"},
    {"name": "salt birth_year", "salt": "birth_year"},
    {"name": "salt birth_date", "salt": "birth_date"},
    {"name": "balance (shipped Dice thresholds)", "balance": True, "dice": "shipped"},
    {"name": "balance", "balance": True},
    {"name": "flips 0.05 per name", "flip_probability": 0.05},
    {"name": "identity flips 2", "identity_flips": 2},
    {"name": "identity flips 4", "identity_flips": 4},
    {"name": "identity flips 8", "identity_flips": 8},
    {"name": "salt birth_year + identity flips 8", "salt": "birth_year", "identity_flips": 8},
]


def balanced_threshold(plain: float, popcount: int = TYPICAL_POPCOUNT, bits: int = 256
                       ) -> float:
    """The balanced-filter Dice (1 - hamming/bits) of two filters of `popcount` bits each
    whose plain Dice is `plain` (hamming = 2 * popcount * (1 - plain))."""
    return round(1 - 2 * popcount * (1 - plain) / bits, 3)


def dice_thresholds(setting: dict, shipped: list[float]) -> dict[float, float] | None:
    """Shipped threshold -> threshold to use; None keeps the shipped rules."""
    dice = setting.get("dice")
    if dice == "shipped" or (dice is None and not setting.get("balance")):
        return None
    if dice is None:
        return {t: balanced_threshold(t) for t in shipped}
    return {float(k): float(v) for k, v in dice.items()}


_DICE_LEVEL = re.compile(r"(dice\([^)]*\)\s*>=\s*)(\d*\.\d+)")


def shipped_thresholds(linkage_text: str) -> list[float]:
    return sorted({float(m.group(2)) for m in _DICE_LEVEL.finditer(linkage_text)}, reverse=True)


def write_rules(setting: dict, config: JobConfig, folder: Path) -> tuple[JobConfig, dict | None]:
    """An encoding spec (and linkage rules if thresholds change) for the setting, in `folder`;
    the config pointed at them, and the thresholds used."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = yaml.safe_load(config.rule(config.encoding).read_text(encoding="utf-8"))
    spec["bloom"]["names"].update({k: setting.get(k, UNHARDENED[k]) for k in BLOOM_OPTIONS})
    encoding = folder / "encoding.yaml"
    encoding.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    load_spec(encoding)  # the setting must be a valid spec
    text = config.rule(config.linkage).read_text(encoding="utf-8")
    thresholds = dice_thresholds(setting, shipped_thresholds(text))
    update: dict = {"encoding": encoding}
    if thresholds is not None:
        linkage = folder / "linkage.yaml"
        linkage.write_text(_DICE_LEVEL.sub(
            lambda m: f"{m.group(1)}{thresholds.get(float(m.group(2)), float(m.group(2)))}",
            text), encoding="utf-8")
        update["linkage"] = linkage
    return config.model_copy(update=update), thresholds


def true_names(config: JobConfig, source: str, encoded: pl.DataFrame) -> pl.DataFrame:
    """The true normalised names of each encoded record (row-aligned), from the raw extract;
    kept in memory only."""
    src = config.source(source)
    raw = read_raw(config.at(src.file), src).rows
    names = raw.select(pl.col(src.record_id).alias("record_id"),
                       *(pl.col(getattr(src.identity, f).column).alias(f) for f in FIELDS))
    aligned = encoded.select("record_id").join(names, on="record_id", how="left",
                                               maintain_order="left")
    return aligned.select(*(normalise_names(aligned[f], f) for f in FIELDS))


def identity_columns(encoded: pl.DataFrame) -> list[str]:
    """The columns the hub collapses records on (one distinct tuple = one identity)."""
    return [c for c in encoded.columns if c.startswith(IDENTITY_PREFIXES) or c in IDENTITY_CODES]


def census(truth: pl.Series, persons: pl.Series) -> dict[str, float]:
    """A well-informed attacker's list: the exact share of true persons bearing each name."""
    pairs = pl.DataFrame({"name": truth, "person": persons}).drop_nulls().unique()
    counts = pairs.group_by("name").len()
    return {name: n / pairs.height for name, n in counts.iter_rows()}


def _figures(score: AttackScore) -> dict[str, float]:
    return {"records": round(score.share_records, 4), "names": round(score.share_names, 4)}


def _both(given: pl.Series, family: pl.Series) -> float:
    """Share of records (with both names) whose given and family names were both recovered."""
    scorable = given.is_not_null() & family.is_not_null()
    both = (given & family).filter(scorable)
    return round(float(both.mean()), 4) if both.len() else 0.0


Attacker = tuple[str, dict[str, float], list[str] | None, pl.Series]


def attackers(encoded: pl.DataFrame, truth: pl.Series, persons: pl.Series, field: str,
              name_keys: NameKeyTokens) -> dict[str, Attacker]:
    """Column attacked, list, counting unit and truth of each attacker: the public list
    against rows; an exact census of the extract's persons against distinct identities; the
    public list, by phonetic key, against each blocking token holding the field's key."""
    public = load_public(RULES_DIR / "names" / PUBLIC[field], field)
    keys = phonetic_keys(truth, name_keys.length)
    by_key = by_phonetic_key(public, name_keys.length)
    return {
        "public": (field, public, None, truth),
        "census": (field, census(truth, persons), identity_columns(encoded), truth),
        **{column: (column, by_key, None, keys)
           for column in key_tokens(name_keys.combine, field)},
    }


def attack_source(config: JobConfig, source: str, name_keys: NameKeyTokens) -> dict:
    """Attack figures for one extract, each attacker pooled and within birth years: per name
    field (records, distinct names) and, for the public and census attackers, for both names
    of a record at once."""
    encoded = pl.read_parquet(config.encoded_file(source))
    truth = true_names(config, source, encoded)
    persons = (encoded.select("record_id")
               .join(pl.read_parquet(config.at(config.paths.truth) / "records.parquet")
                     .filter(pl.col("source") == source), on="record_id", how="left",
                     maintain_order="left")["person_id"])
    out: dict = {f: {} for f in (*FIELDS, "both_names")}
    hits: dict = {}
    for field in FIELDS:
        for who, (column, public, unit, values) in attackers(
                encoded, truth[field], persons, field, name_keys).items():
            out[field][who] = {}
            for part, by in PARTITIONS.items():
                result = frequency_attack(encoded, column, public, by, unit)
                hits[(field, who, part)] = recovered(result, encoded, values)
                out[field][who][part] = _figures(score_hits(hits[(field, who, part)], values))
    for who in ("public", "census"):
        out["both_names"][who] = {part: _both(*(hits[(f, who, part)] for f in FIELDS))
                                  for part in PARTITIONS}
    return out


def run_setting(setting: dict, data: Path, workdir: Path, seed: int) -> dict:
    """Pseudonymise, link and evaluate the shared synthetic data under one setting."""
    start = time.perf_counter()
    workdir.mkdir(parents=True)
    for name in ("raw", "truth"):
        (workdir / name).symlink_to(data / name, target_is_directory=True)
    config = load_config(CONFIGS_DIR / "demo.yaml", workdir=workdir)
    config, thresholds = write_rules(setting, config, workdir / "rules")
    key = demo_key(config, seed)
    for source in config.sources:
        pseudonymise_source(config, source, key)
    link = run_link(config)
    try:
        quality = evaluate(link.con, config)
    finally:
        link.con.close()
    spec = load_spec(config.rule(config.encoding))
    pairs, persons = quality["pairs"], quality["persons"]
    return {
        "setting": setting["name"],
        "bloom": {k: getattr(spec.bloom["names"], k) for k in BLOOM_OPTIONS},
        "dice_thresholds": thresholds or "shipped",
        # the rules in force (other work may edit rules/ between runs)
        "rules_sha256": {"names": folder_sha256(RULES_DIR / "names")[:12],
                         "linkage": file_sha256(config.rule(config.linkage))[:12]},
        "pairs": {k: pairs[k] for k in ("precision", "recall", "f1")},
        "persons": {k: persons[k] for k in ("precision", "recall")},
        "attack": {s: attack_source(config, s, spec.tokens.name_keys) for s in ATTACKED},
        "seconds": round(time.perf_counter() - start, 1),
    }


def study(persons: int, seed: int, settings: list[dict],
          report: Callable[[dict], None] | None = None) -> list[dict]:
    """One result per setting (see `run_setting`), all on the same synthetic population;
    `report` is called with each result as soon as it is ready."""
    results = []
    with tempfile.TemporaryDirectory(prefix="migralink-hardening-") as tmp:
        data = Path(tmp) / "data"
        synthesise(persons, seed, data)
        for number, setting in enumerate(settings):
            workdir = Path(tmp) / f"setting{number}"
            result = run_setting(setting, data, workdir, seed)
            shutil.rmtree(workdir)
            result.update(persons_synthesised=persons, seed=seed)
            results.append(result)
            if report is not None:
                report(result)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    study(args.persons, args.seed, SETTINGS,
          report=lambda result: print(json.dumps(result), flush=True))


if __name__ == "__main__":
    sys.exit(main())
