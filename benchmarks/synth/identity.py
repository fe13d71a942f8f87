"""Registered identities (one per person and source) and per-record noise on top of them.

An agency registers a person once, with its own habits (case, accents, date conventions) and
mistakes (variant spellings, typos, swapped names, wrong digits); records then copy that
registered identity, and a few add a fresh mistake of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from benchmarks.synth.draws import Stream, Weighted
from benchmarks.synth.names import spacing, style, typo, variants
from benchmarks.synth.population import Population

# Identity-level rates (share of registered identities).
P_VARIANT = 0.20   # a variant spelling of the given or the family name
P_TYPO = 0.04
P_SWAP = 0.03      # given and family names exchanged
P_SPACING = 0.02
P_DATE_ERROR = 0.01
P_DOC_TYPO = 0.01
P_SEX_MISSING = 0.005
P_NATIONALITY_MISSING = 0.01

# Per-record noise: what kind of mistake a noisy record carries.
RECORD_NOISE = Weighted({"typo": 40, "variant": 20, "swap": 8, "date": 12, "doc": 12,
                         "spacing": 8})


@dataclass(frozen=True)
class SourceStyle:
    """How one agency writes identities."""

    upper: float                   # share of identities written in upper case
    accents: float                 # share keeping accents
    date_format: str               # str.format template with y, m, d
    year_only: Weighted            # (day, month) written for a year-only birth date
    male: str
    female: str
    nationality: bool              # the extract has a nationality column
    doc_missing: float             # identity level: the agency never recorded the document
    record_noise: float            # share of records with one extra mistake
    doc_columns: tuple[str, ...]   # raw document columns a record-level typo may hit


STYLES: dict[str, SourceStyle] = {
    "border": SourceStyle(
        upper=1.0, accents=0.15, date_format="{d:02d}/{m:02d}/{y:04d}",
        year_only=Weighted({(0, 0): 70, (1, 1): 25, (31, 12): 5}), male="M", female="F",
        nationality=True, doc_missing=0.0, record_noise=0.06, doc_columns=("num_document",)),
    "permits": SourceStyle(
        upper=0.2, accents=0.5, date_format="{y:04d}-{m:02d}-{d:02d}",
        year_only=Weighted({(1, 1): 60, (0, 0): 30, (31, 12): 10}), male="1", female="2",
        nationality=True, doc_missing=0.05, record_noise=0.08,
        doc_columns=("permit_no", "passport_no")),
    "social_security": SourceStyle(
        upper=0.5, accents=0.4, date_format="{y:04d}{m:02d}{d:02d}",
        year_only=Weighted({(0, 0): 50, (1, 1): 45, (31, 12): 5}), male="M", female="F",
        nationality=False, doc_missing=0.05, record_noise=0.003, doc_columns=("num_piece",)),
    "placements": SourceStyle(
        upper=0.1, accents=0.6, date_format="{d:02d}-{m:02d}-{y:04d}",
        year_only=Weighted({(1, 1): 60, (0, 0): 35, (31, 12): 5}), male="H", female="F",
        nationality=True, doc_missing=0.0, record_noise=0.03, doc_columns=("doc_number",)),
}
SOURCES = tuple(STYLES)


def digit_typo(number: str, s: Stream) -> str:
    """One digit replaced by another."""
    positions = [i for i, c in enumerate(number) if c.isdigit()]
    if not positions:
        return number
    i = s.pick(positions)
    new = s.pick([c for c in "0123456789" if c != number[i]])
    return number[:i] + new + number[i + 1:]


def _valid(y: int, m: int, d: int) -> bool:
    try:
        date(y, m, d)
    except ValueError:
        return False
    return True


def date_error(y: int, m: int, d: int, s: Stream) -> tuple[int, int, int]:
    """Day and month transposed, or one digit of the day or year wrong (still a valid date)."""
    options = []
    if d <= 12 and d != m:
        options.append((y, d, m))
    for alt in (d % 10 + 10 * ((d // 10 + 1) % 4), 10 * (d // 10) + (d % 10 + 1) % 10):
        if alt != d and _valid(y, m, alt):
            options.append((y, m, alt))
    options.append((y - y % 10 + (y % 10 + s.pick((1, 9))) % 10, m, d))
    return s.pick(options)


def birth_text(ymd: tuple[int, int, int], year_only: bool, st: SourceStyle, s: Stream,
               error: float) -> str:
    """A birth date as the agency writes it; year-only dates follow its convention."""
    y, m, d = ymd
    if year_only:
        d, m = st.year_only.draw(s)
    elif s.chance(error):
        y, m, d = date_error(y, m, d, s)
    return st.date_format.format(y=y, m=m, d=d)


def noisy_names(given: str, family: str, rules: str, s: Stream,
                p_variant: float = P_VARIANT, p_typo: float = P_TYPO, p_swap: float = P_SWAP,
                p_spacing: float = P_SPACING) -> tuple[str, str]:
    """True names with the spelling mistakes of one registration (or one record)."""
    if s.chance(p_variant):
        first_given = s.chance(0.5)
        for which in ((0, 1) if first_given else (1, 0)):
            options = variants(given if which == 0 else family, rules)
            if options:
                if which == 0:
                    given = s.pick(options)
                else:
                    family = s.pick(options)
                break
    if s.chance(p_typo):
        if s.chance(0.5):
            given = typo(given, s)
        else:
            family = typo(family, s)
    if s.chance(p_spacing):
        if s.chance(0.5):
            given = spacing(given, s)
        else:
            family = spacing(family, s)
    if s.chance(p_swap):
        given, family = family, given
    return given, family


def _doc(number: str, s: Stream, missing: bool) -> str:
    if not number or missing:
        return ""
    return digit_typo(number, s) if s.chance(P_DOC_TYPO) else number


def register(pop: Population, source: str, pids: np.ndarray,
             rng: np.random.Generator) -> pl.DataFrame:
    """One registered identity per person id, as the source's agency holds it.

    Columns: pid, given, family, sex, birth, nationality, cnie, passport0, passport1, permit0..2,
    ssn (registered document numbers, "" when unknown), and upper/accents (writing style).
    """
    st, s = STYLES[source], Stream(rng)
    rows: dict[str, list] = {c: [] for c in (
        "pid", "given", "family", "sex", "birth", "nationality", "cnie", "passport0",
        "passport1", "permit0", "permit1", "permit2", "ssn", "upper", "accents")}
    docs, ymd = pop.docs, pop.birth_ymd
    # Plain lists: indexing numpy object arrays one element at a time is slow.
    given_, family_, rules_ = pop.given.tolist(), pop.family.tolist(), pop.name_rules.tolist()
    male_ = (pop.sex == "M").tolist()
    nat_, year_only_ = pop.nationality.tolist(), pop.year_only.tolist()
    for pid in np.unique(pids).tolist():
        i = pid - 1
        given, family = noisy_names(given_[i], family_[i], rules_[i], s)
        upper, accents = s.chance(st.upper), s.chance(st.accents)
        missing = s.chance(st.doc_missing)  # the agency never recorded the identity document
        permits = docs.permit[i] or ["", "", ""]
        values = (
            pid, style(given, upper, accents), style(family, upper, accents),
            "" if s.chance(P_SEX_MISSING) else (st.male if male_[i] else st.female),
            birth_text(ymd[i], year_only_[i], st, s, P_DATE_ERROR),
            "" if not st.nationality or s.chance(P_NATIONALITY_MISSING) else nat_[i],
            _doc(docs.cnie[i], s, missing),
            _doc(docs.passport[i][0], s, missing),
            _doc(docs.passport[i][1], s, missing),
            # The issuing ministry's own key is never missing nor mistyped at registration.
            *(p if source == "permits" else _doc(p, s, missing) for p in permits),
            docs.ssn[i], upper, accents,
        )
        for column, value in zip(rows.values(), values, strict=True):
            column.append(value)
    return pl.DataFrame(rows, schema_overrides={"pid": pl.Int64})


def add_record_noise(df: pl.DataFrame, source: str, pop: Population, columns: dict[str, str],
                     rng: np.random.Generator) -> pl.DataFrame:
    """Give a share of records one extra mistake. `columns` maps given/family/birth to raw names.

    `df` needs the raw columns plus pid, upper and accents; rows are chosen by position.
    """
    st = STYLES[source]
    s = Stream(rng)
    rows = np.flatnonzero(rng.random(df.height) < st.record_noise)
    if rows.size == 0:
        return df
    g, f, b = columns["given"], columns["family"], columns["birth"]
    names = (g, f, b, *st.doc_columns)
    picked = df.select(["pid", "upper", "accents", *names])[rows]
    new = {c: picked[c].to_list() for c in names}
    pids, uppers, accents = (picked[c].to_list() for c in ("pid", "upper", "accents"))
    for k, pid in enumerate(pids):
        i = pid - 1
        kind = RECORD_NOISE.draw(s)
        if kind == "variant":
            given, family = noisy_names(pop.given[i], pop.family[i], pop.name_rules[i], s, 1.0,
                                        0.0, 0.0, 0.0)
            if given != pop.given[i]:
                new[g][k] = style(given, uppers[k], accents[k])
            elif family != pop.family[i]:
                new[f][k] = style(family, uppers[k], accents[k])
        elif kind == "typo":
            col = g if s.chance(0.5) else f
            new[col][k] = typo(new[col][k], s)
        elif kind == "spacing":
            col = g if s.chance(0.5) else f
            new[col][k] = spacing(new[col][k], s)
        elif kind == "swap":
            new[g][k], new[f][k] = new[f][k], new[g][k]
        elif kind == "date":
            new[b][k] = birth_text(pop.birth_ymd[i], bool(pop.year_only[i]), st, s, 1.0)
        else:
            col = s.pick(st.doc_columns)
            new[col][k] = digit_typo(new[col][k], s) if new[col][k] else new[col][k]
    updates = []
    for c in names:
        series = df[c].clone()
        series.scatter(rows, pl.Series(new[c], dtype=pl.Utf8))
        updates.append(series)
    return df.with_columns(updates)
