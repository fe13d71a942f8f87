"""Shared normalisation rules: names (rules/names/), document numbers, dates.

Every producer applies the same rules before encoding, so two agencies that spell a name
differently still produce the same encoding. Functions on single strings are the definition;
the `*_series` helpers apply them once per distinct value of a polars Series.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from migralink.config import RULES_DIR
from migralink.errors import ConfigError

NameKind = str  # "given_name" | "family_name"

_APOSTROPHES = re.compile(r"['’`´ʼ‘]")
_NON_LETTERS = re.compile(r"[^a-z]+")


def _read_rows(path: Path) -> list[dict[str, str]]:
    """Read a rules CSV with a header; lines starting with '#' are comments."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            lines = [line for line in handle if not line.lstrip().startswith("#")]
    except FileNotFoundError:
        raise ConfigError(str(path), "rules file not found") from None
    return list(csv.DictReader(lines))


def _variant_table(path: Path) -> dict[str, str]:
    table: dict[str, str] = {}
    for number, row in enumerate(_read_rows(path), start=1):
        variant, canonical = row["variant"].strip(), row["canonical"].strip()
        if table.get(variant, canonical) != canonical:
            raise ConfigError(str(path), f"entry {number}: '{variant}' is in two groups")
        table[variant] = canonical
    return table


@dataclass(frozen=True)
class NameRules:
    titles: frozenset[str]
    prefixes: dict[str, str]
    articles: frozenset[str]
    assimilated: tuple[re.Pattern[str], str]
    variants: dict[str, dict[str, str]]
    phonetic: tuple[tuple[re.Pattern[str], str], ...]
    sha256: str

    @classmethod
    def load(cls, folder: Path = RULES_DIR / "names") -> NameRules:
        particles = _read_rows(folder / "particles.csv")
        prefixes = {p["variant"]: p["canonical"] for p in particles if p["kind"] == "prefix"}
        articles = frozenset(p["variant"] for p in particles if p["kind"] == "article")
        assimilated = [p for p in particles if p["kind"] == "assimilated_article"]
        if len(assimilated) != 1:
            raise ConfigError(str(folder / "particles.csv"), "need one assimilated_article rule")
        return cls(
            titles=frozenset(r["title"] for r in _read_rows(folder / "titles.csv")),
            prefixes=prefixes,
            articles=articles,
            assimilated=(re.compile(assimilated[0]["variant"]), assimilated[0]["canonical"]),
            variants={
                "given_name": _variant_table(folder / "given_names.csv"),
                "family_name": _variant_table(folder / "family_names.csv"),
            },
            phonetic=tuple(
                (re.compile(r["pattern"]), r["replacement"])
                for r in _read_rows(folder / "phonetic.csv")
            ),
            sha256=folder_sha256(folder),
        )


def folder_sha256(folder: Path) -> str:
    """Hash of every rules file (name and content), so a manifest pins the exact rules used."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.csv")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=1)
def default_rules() -> NameRules:
    return NameRules.load()


def fold(text: str) -> str:
    """Lower case, accents removed, apostrophes dropped, anything not a letter -> one space."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    letters = _APOSTROPHES.sub("", letters)
    return _NON_LETTERS.sub(" ", letters).strip()


def fold_address(text: str | None) -> str | None:
    """Lower case, accents removed, letters and digits kept, anything else -> one space."""
    if text is None:
        return None
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", " ", kept).strip() or None


def _join_particles(words: list[str], rules: NameRules) -> list[str]:
    """Drop titles and articles; join prefix particles to the word that follows them."""
    out: list[str] = []
    prefix = ""
    for word in words:
        if word in rules.titles:
            continue
        if word in rules.articles:
            continue
        if word in rules.prefixes:
            prefix += rules.prefixes[word]
            continue
        pattern, replacement = rules.assimilated
        if len(word) >= 6:
            word = pattern.sub(replacement, word, count=1)
        out.append(prefix + word)
        prefix = ""
    if prefix:  # a trailing particle (e.g. "Ben") stays as a word of its own
        out.append(prefix)
    return out


def _detach_article(word: str, table: dict[str, str], rules: NameRules) -> str:
    """'elidrissi' -> 'idrissi' when what follows the article is a known name."""
    for article in rules.articles:
        if len(article) > 1 and word.startswith(article) and word[len(article):] in table:
            return word[len(article):]
    return word


def normalise_name(text: str | None, kind: NameKind, rules: NameRules | None = None) -> str | None:
    """The canonical spelling of a given or family name; None when nothing is left."""
    if text is None:
        return None
    rules = rules or default_rules()
    folded = fold(text).split()
    words = _join_particles(folded, rules)
    if not words:
        # a name that is only a title is that title (Cheikh is a common given name in
        # Senegal): dropping it would leave the identity without the name and its tokens
        words = [word for word in folded if word in rules.titles]
    table = rules.variants[kind]
    words = [table.get(_detach_article(word, table, rules), word) for word in words]
    return " ".join(words) or None


def phonetic_key(name: str | None, length: int = 6, rules: NameRules | None = None) -> str | None:
    """Blocking key of a normalised name: French-transliteration rewrites, consonant skeleton."""
    if not name:
        return None
    rules = rules or default_rules()
    text = name.replace(" ", "")
    for pattern, replacement in rules.phonetic:
        text = pattern.sub(replacement, text)
    return text[:length] or None


def normalise_document(number: str | None) -> str | None:
    """Upper-case letters and digits only: 'ab 123-456' and 'AB123456' are the same number."""
    if number is None:
        return None
    decomposed = unicodedata.normalize("NFKD", number.upper())
    return re.sub(r"[^0-9A-Z]", "", decomposed) or None


def map_distinct(series: pl.Series, function: Callable[[str], object], dtype: pl.DataType,
                 ) -> pl.Series:
    """Apply a Python function once per distinct non-null value, then broadcast it back."""
    distinct = series.drop_nulls().unique()
    mapping = pl.DataFrame(
        {"key": distinct, "value": pl.Series([function(v) for v in distinct], dtype=dtype)}
    )
    return (
        series.to_frame("key")
        .join(mapping, on="key", how="left", maintain_order="left")
        .get_column("value")
        .alias(series.name)
    )


def normalise_names(series: pl.Series, kind: NameKind, rules: NameRules | None = None
                    ) -> pl.Series:
    rules = rules or default_rules()
    return map_distinct(series, lambda v: normalise_name(v, kind, rules), pl.String())


def normalise_addresses(series: pl.Series) -> pl.Series:
    return map_distinct(series, fold_address, pl.String())


def phonetic_keys(series: pl.Series, length: int, rules: NameRules | None = None) -> pl.Series:
    rules = rules or default_rules()
    return map_distinct(series, lambda v: phonetic_key(v, length, rules), pl.String())


def document_expr(number: pl.Expr) -> pl.Expr:
    """`normalise_document` as an expression, for ASCII values (on which upper-casing and the
    regex agree with it, and NFKD changes nothing); null for the others (see `is_ascii`)."""
    cleaned = number.str.to_uppercase().str.replace_all("[^0-9A-Z]", "")
    return pl.when(is_ascii(number) & (cleaned != "")).then(cleaned)


def is_ascii(value: pl.Expr) -> pl.Expr:
    return value.str.len_bytes() == value.str.len_chars()


def normalise_documents(series: pl.Series) -> pl.Series:
    """`normalise_document` of every value: vectorised for ASCII values, in Python (once per
    distinct value) for the rare others."""
    number = pl.col("number")
    frame = series.to_frame("number").select(
        document_expr(number).alias("fast"), pl.when(~is_ascii(number)).then(number).alias("other"))
    if frame["other"].null_count() == frame.height:
        return frame["fast"].alias(series.name)
    other = map_distinct(frame["other"], normalise_document, pl.String())
    return frame.select(pl.coalesce("fast", other)).to_series().alias(series.name)
