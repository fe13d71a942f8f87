"""Validate a raw extract against its column mapping, into canonical rows and rejects.

`parse` never fails on bad values: it returns the rows it could parse in the canonical schema
and, separately, every other row with its reasons, so nothing is lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import polars as pl

from migralink.config import (
    FieldSpec,
    IdentityInClearStop,
    MaxLength,
    SourceConfig,
    ValidationConfig,
)
from migralink.errors import InputError
from migralink.schema import (
    DOC_TYPES,
    EVENT_CODES,
    EVENT_FIELDS,
    EVENT_RANGES,
    OPTIONAL_EVENT_FIELDS,
    PAST_DATE_FIELDS,
    SEX_CODES,
)
from pseudonymise.read import ROW

_DIRECTIVES = {"%d": r"(?P<d>\d{1,2})", "%m": r"(?P<m>\d{1,2})", "%Y": r"(?P<Y>\d{4})"}
_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f]"


@dataclass(frozen=True)
class Parsed:
    rows: pl.DataFrame      # canonical columns of the rows that parsed, with ROW
    rejects: pl.DataFrame   # ROW, reasons, then the raw mapped columns
    notes: dict[str, int]   # kept rows with a value treated as unknown, by note


def _format_regex(fmt: str) -> str:
    """'%d/%m/%Y' -> a regular expression with named groups d, m, Y (checked in the config)."""
    pattern = re.escape(fmt)
    for directive, group in _DIRECTIVES.items():
        pattern = pattern.replace(re.escape(directive), group)
    return f"^{pattern}$"


def _date_parts(column: str, formats: list[str]) -> list[pl.Expr]:
    """Year, month and day (0 = not given) from the first format that matches."""
    parts: dict[str, list[pl.Expr]] = {"Y": [], "m": [], "d": []}
    for fmt in formats:
        regex = _format_regex(fmt)
        for part in parts:
            group = f"(?P<{part}>"
            if group in regex:
                index = re.compile(regex).groupindex[part]
                parts[part].append(pl.col(column).str.extract(regex, index).cast(pl.Int32))
            else:  # a part the format does not carry: 0 (unknown) when the format matched
                parts[part].append(
                    pl.when(pl.col(column).str.contains(regex)).then(pl.lit(0, pl.Int32))
                )
    return [pl.coalesce(exprs).alias(f"_{part}") for part, exprs in parts.items()]


def _iso(year: pl.Expr, month: pl.Expr, day: pl.Expr) -> pl.Expr:
    """A real calendar date from parts, or null (31 February, month 13...)."""
    text = pl.format("{}-{}-{}", year.cast(pl.String).str.zfill(4),
                     month.cast(pl.String).str.zfill(2), day.cast(pl.String).str.zfill(2))
    return text.str.to_date("%Y-%m-%d", strict=False)


def _problem(condition: pl.Expr, reason: str, column: str) -> pl.Expr:
    return pl.when(condition).then(pl.lit(f"{reason}({column})"))


class _Parser:
    """Builds, for one source, the expressions giving canonical values and row problems."""

    def __init__(self, source: SourceConfig, today: date, oldest_age: int):
        self.source, self.today, self.oldest_age = source, today, oldest_age
        self.values: list[pl.Expr] = []
        self.problems: list[pl.Expr] = []
        self.notes: list[pl.Expr] = []  # kept rows with a repaired value, counted in manifest

    def given(self, column: str) -> pl.Expr:
        return pl.col(column).is_not_null() & (pl.col(column) != "")

    def code(self, name: str, spec: FieldSpec, allowed: set[str] | None) -> None:
        raw = pl.col(spec.column)
        mapped = raw.replace_strict(spec.codes, default=None) if spec.codes else raw
        self.values.append(mapped.alias(name))
        unknown = self.given(spec.column) & mapped.is_null()
        if allowed is not None:
            unknown = unknown | (mapped.is_not_null() & ~mapped.is_in(sorted(allowed)))
        self.problems.append(_problem(unknown, "unknown_code", spec.column))

    def nationality(self, spec: FieldSpec) -> None:
        raw = pl.col(spec.column).str.to_uppercase()
        mapped = raw.replace_strict(spec.codes, default=None) if spec.codes else raw
        self.values.append(mapped.alias("nationality"))
        bad = self.given(spec.column) & ~mapped.str.contains(r"^[A-Z]{3}$").fill_null(False)
        self.problems.append(_problem(bad, "unknown_code", spec.column))

    def birth_date(self, spec: FieldSpec) -> dict[str, pl.Expr]:
        """Year, month, day; an impossible month or day is kept as unknown (noted, not
        rejected): the rest of the date is still evidence. No year at all is a reject.
        Gives them, the problems and the note as expressions of the parts (_Y, _m, _d), to be
        made per distinct date (`_per_date`) as the columns named; the problems and the note
        are those columns."""
        y, m, d = pl.col("_Y"), pl.col("_m"), pl.col("_d")
        month_ok = (m >= 1) & (m <= 12)
        full = _iso(y, m, d)
        day_ok = month_ok & (d >= 1) & full.is_not_null()
        unparsed = self.given(spec.column) & y.is_null()
        implausible = (y > self.today.year) | (y < self.today.year - self.oldest_age) | (
            day_ok & (full > self.today)
        )
        partial = y.is_not_null() & (((m > 0) & ~month_ok) | ((d > 0) & ~day_ok))
        made = {
            "_birth_year": y,
            "_birth_month": pl.when(month_ok).then(m),
            "_birth_day": pl.when(day_ok).then(d),
            "_birth_unparsed": _problem(unparsed, "bad_date", spec.column),
            "_birth_implausible": _problem(implausible.fill_null(False), "implausible_date",
                                           spec.column),
            "_birth_partial": _problem(partial, "birth_date_part_unknown", spec.column),
        }
        self.problems += [pl.col("_birth_unparsed"), pl.col("_birth_implausible")]
        self.notes.append(pl.col("_birth_partial"))
        return made

    def event(self, name: str, spec: FieldSpec, kind: str) -> pl.Expr | None:
        col, optional = spec.column, name in OPTIONAL_EVENT_FIELDS
        if not optional:
            self.problems.append(_problem(~self.given(col), "missing_value", col))
        if kind in ("date", "month"):
            return None  # parsed in a second pass from its parts
        if kind == "code":
            self.code(name, spec, EVENT_CODES.get(name))
            return None
        if kind == "int":
            value = pl.col(col).cast(pl.Int32, strict=False)
            self.problems.append(_problem(self.given(col) & value.is_null(), "bad_int", col))
            if name in EVENT_RANGES:
                low, high = EVENT_RANGES[name]
                outside = value.is_not_null() & ~value.is_between(low, high)
                self.problems.append(_problem(outside, "out_of_range", col))
            return value.alias(name)
        return pl.col(col).alias(name)


def _documents(source: SourceConfig, parser: _Parser) -> list[pl.Expr]:
    """One raw-number column per document type (null where the source has none)."""
    by_type: dict[str, list[pl.Expr]] = {t: [] for t in DOC_TYPES}
    for doc in source.identity.documents:
        number = pl.col(doc.number)
        if doc.type is not None:
            by_type[doc.type].append(number)
            continue
        kind = pl.col(doc.type_column).replace_strict(doc.types, default=None)
        bad = parser.given(doc.number) & kind.is_null()
        parser.problems.append(_problem(bad, "unknown_code", doc.type_column))
        for doc_type in set(doc.types.values()):
            by_type[doc_type].append(pl.when(kind == doc_type).then(number))
    return [
        (pl.coalesce(exprs) if exprs else pl.lit(None, pl.String)).alias(f"doc_{t}")
        for t, exprs in by_type.items()
    ]


def _per_date(frame: pl.DataFrame, spec: FieldSpec, made: dict[str, pl.Expr]) -> pl.DataFrame:
    """`frame` with the columns `made` (expressions of the date parts _Y, _m, _d of the
    column `spec`), made once per distinct value of the column and joined back: dates
    repeat a lot."""
    column = pl.col(spec.column)
    values = (frame.select(column).unique().with_columns(_date_parts(spec.column, spec.formats))
              .select(column, *(expr.alias(name) for name, expr in made.items())))
    return frame.join(values, on=spec.column, how="left", nulls_equal=True,
                      maintain_order="left")


def _dates_pass(frame: pl.DataFrame, source: SourceConfig, parser: _Parser) -> pl.DataFrame:
    """Parse each date field from its parts; full dates must be real calendar dates, and a
    crossing, an issue or a declared month cannot lie after the day of encoding."""
    for name, spec in source.events.items():
        kind = EVENT_FIELDS[source.kind][name]
        if kind not in ("date", "month"):
            continue
        day = pl.lit(1) if kind == "month" else pl.col("_d")
        # a prefixed name: the raw column may carry the canonical name already ("issue_date")
        frame = _per_date(frame, spec, {f"_date_{name}": _iso(pl.col("_Y"), pl.col("_m"), day)})
        parsed_date = pl.col(f"_date_{name}")
        bad = parser.given(spec.column) & parsed_date.is_null()
        parser.problems.append(_problem(bad, "bad_date", spec.column))
        if name in PAST_DATE_FIELDS:
            future = (parsed_date > parser.today).fill_null(False)
            parser.problems.append(_problem(future, "implausible_date", spec.column))
    return frame


def parse(raw: pl.DataFrame, source: SourceConfig, today: date | None = None,
          validation: ValidationConfig | None = None,
          seen_ids: pl.Series | SeenIds | None = None) -> Parsed:
    """Split a raw extract (or a batch of it) into canonical rows and rejected rows with
    their reasons. `seen_ids`: record ids of earlier batches, so a repeat is caught."""
    validation = validation or ValidationConfig()
    parser = _Parser(source, today or date.today(), validation.oldest_age)
    ident = source.identity
    values: list[pl.Expr] = [pl.col(ROW), pl.col(source.record_id).alias("record_id")]
    # a control character in a field is a sign of a broken export; never guess what it meant
    parser.problems += [_problem(pl.col(c).str.contains(_CONTROL).fill_null(False),
                                 "control_character", c) for c in source.raw_columns()]
    parser.problems += _too_long(source, validation.max_length)
    parser.problems.append(
        _problem(~parser.given(source.record_id), "missing_value", source.record_id)
    )
    for name in ("given_name", "family_name"):
        spec = getattr(ident, name)
        values.append(pl.col(spec.column).alias(name) if spec else pl.lit(None, pl.String)
                      .alias(name))
    if ident.address:
        values.append(pl.concat_str([pl.col(c) for c in ident.address], separator=" ",
                                    ignore_nulls=True).replace("", None).alias("address"))
    else:
        values.append(pl.lit(None, pl.String).alias("address"))
    if ident.sex:
        parser.code("sex", ident.sex, SEX_CODES)
    else:
        values.append(pl.lit(None, pl.String).alias("sex"))
    if ident.nationality:
        parser.nationality(ident.nationality)
    else:
        values.append(pl.lit(None, pl.String).alias("nationality"))
    frame, in_clear = _identity_in_clear(raw, source)
    parser.problems += in_clear
    if ident.birth_date:
        frame = _per_date(frame, ident.birth_date, parser.birth_date(ident.birth_date))
        values += [pl.col(f"_{c}").alias(c) for c in ("birth_year", "birth_month", "birth_day")]
    else:
        values += [pl.lit(None, pl.Int32).alias(c)
                   for c in ("birth_year", "birth_month", "birth_day")]
    values += _documents(source, parser)
    for name, spec in source.events.items():
        expr = parser.event(name, spec, EVENT_FIELDS[source.kind][name])
        if expr is not None:
            values.append(expr)
    frame = _dates_pass(frame, source, parser)
    values += [pl.col(f"_date_{name}").alias(name) for name in source.events
               if EVENT_FIELDS[source.kind][name] in ("date", "month")]

    checked = frame.with_columns(
        # the same as a list of the problems without nulls joined by "|", at a tenth of the cost
        pl.concat_str(parser.problems, separator="|", ignore_nulls=True).alias("_reasons"),
        pl.concat_list([*parser.notes, pl.lit(None, pl.String)]).list.drop_nulls()
        .alias("_notes"),
    )
    canonical = checked.select(*values, *parser.values, "_reasons", "_notes")
    canonical = _no_identity(canonical)
    canonical = _duplicates(canonical, source.record_id, seen_ids)
    bad = pl.col("_reasons") != ""
    raw_cols = source.raw_columns()
    rejects = (
        canonical.filter(bad).select(ROW, pl.col("_reasons").alias("reasons"))
        .join(raw, on=ROW, how="left").select(ROW, "reasons", *raw_cols)
    )
    rows = canonical.filter(~bad)
    notes = rows.select(pl.col("_notes").explode().drop_nulls().value_counts(sort=True))
    note_counts = {n["_notes"]: n["count"] for n in notes.unnest("_notes").to_dicts()}
    return Parsed(rows=rows.drop("_reasons", "_notes"), rejects=rejects, notes=note_counts)


def _too_long(source: SourceConfig, limits: MaxLength) -> list[pl.Expr]:
    """`too_long(column)` for a name, document number or address longer than its limit."""
    ident, limit = source.identity, {}
    for name in ("given_name", "family_name"):
        if (spec := getattr(ident, name)) is not None:
            limit[spec.column] = getattr(limits, name)
    limit.update({doc.number: limits.document for doc in ident.documents})
    limit.update({column: limits.address for column in ident.address or []})
    return [_problem((pl.col(c).str.len_chars() > n).fill_null(False), "too_long", c)
            for c, n in limit.items()]


def _folded(value: pl.Expr) -> pl.Expr:
    """Lower case without accents: 'Élodie', 'ELODIE' and 'elodie' compare equal."""
    return value.str.normalize("NFKD").str.replace_all(r"\p{Mn}", "").str.to_lowercase()


def _lowered(value: pl.Expr) -> pl.Expr:
    """The same as `_folded` for ASCII text, at a tenth of the cost."""
    return value.str.to_lowercase()


def _clear_columns(source: SourceConfig) -> tuple[list[str], list[str]]:
    """Raw columns whose values reach the hub as written: the record id and free-text event
    fields, then date event fields. Coded and integer fields only carry their allowed values."""
    kinds = EVENT_FIELDS[source.kind]
    text = [source.record_id] + [s.column for n, s in source.events.items() if kinds[n] == "text"]
    dates = [s.column for n, s in source.events.items() if kinds[n] in ("date", "month")]
    return list(dict.fromkeys(text)), list(dict.fromkeys(dates))


def _same_as_identity(text: list[str], names: list[str], birth: list[str],
                      folded: Callable[[str], pl.Expr]) -> list[pl.Expr]:
    """Per clear text column: does it equal a name or document (folded: `folded(column)`)
    or the birth date?"""
    return [pl.any_horizontal([folded(c) == folded(n) for n in names]
                              + [pl.col(c) == pl.col(b) for b in birth])
            .fill_null(False).alias(f"_clear_{c}") for c in text]


def _identity_in_clear(raw: pl.DataFrame, source: SourceConfig
                       ) -> tuple[pl.DataFrame, list[pl.Expr]]:
    """`identity_in_clear(column)` where a clear field equals one of the row's own names,
    document numbers (case and accents aside) or its birth date as written. Gives the frame
    with the `_clear_<column>` flags the problems read."""
    ident = source.identity
    names = [s.column for s in (ident.given_name, ident.family_name) if s is not None]
    names += [doc.number for doc in ident.documents]
    birth = [ident.birth_date.column] if ident.birth_date else []
    text, dates = _clear_columns(source)
    if not names and not birth:
        return raw, []
    compared = list(dict.fromkeys(text + names))
    # each column lowered once (not once per pair it is in)
    lowered = raw.with_columns(_lowered(pl.col(c)).alias(f"_lowered_{c}") for c in compared)
    flags = lowered.select(_same_as_identity(text, names, birth,
                                             lambda c: pl.col(f"_lowered_{c}")))
    # accents matter only where a value is not ASCII: fold those rows alone
    wide = raw.select(pl.any_horizontal(pl.col(c).str.len_bytes() != pl.col(c).str.len_chars()
                                        for c in compared).fill_null(False))
    rows = wide.to_series().arg_true()
    if len(rows):
        folded = raw[rows].select(_same_as_identity(text, names, birth,
                                                    lambda c: _folded(pl.col(c))))
        flags = flags.with_columns(flags[c].scatter(rows, flags[c][rows] | folded[c])
                                   for c in flags.columns)
    problems = [_problem(pl.col(f"_clear_{c}"), "identity_in_clear", c) for c in text]
    problems += [_problem((pl.col(c) == pl.col(b)).fill_null(False), "identity_in_clear", c)
                 for c in dates for b in birth]
    return pl.concat([raw, flags], how="horizontal"), problems


def check_identity_in_clear(parsed: Parsed, rows: int, stop: IdentityInClearStop,
                            file: str) -> None:
    """InputError naming the column when so many of a batch's `rows` carry an identity in
    the same clear column that the mapping, not the data, must be wrong."""
    hits = (
        parsed.rejects.select(ROW, pl.col("reasons").str.split("|").alias("reason"))
        .explode("reason").filter(pl.col("reason").str.starts_with("identity_in_clear("))
        .group_by("reason").agg(pl.len().alias("n"), pl.col(ROW).min().alias("first"))
        .sort("n", "reason", descending=[True, False])
    )
    if hits.is_empty():
        return
    reason, count, first = hits.row(0)
    if count >= stop.rows and count > stop.share * rows:
        raise InputError(file, "this column holds the row's own name, document number or "
                         f"birth date in {count} of {rows} rows read together (this row is the "
                         "first), and it reaches the hub in clear: a mapping mistake? Check "
                         "the source's `record_id` and `events` in the config", row=first,
                         column=reason.removeprefix("identity_in_clear(").removesuffix(")"))


def _append_reason(condition: pl.Expr, reason: str) -> pl.Expr:
    current = pl.col("_reasons")
    return (
        pl.when(condition & (current == "")).then(pl.lit(reason))
        .when(condition).then(current + "|" + reason)
        .otherwise(current).alias("_reasons")
    )


def _no_identity(frame: pl.DataFrame) -> pl.DataFrame:
    """A row with no name, no birth year and no document cannot be linked: reject it."""
    identity_cols = ["given_name", "family_name", "birth_year"] + [f"doc_{t}" for t in DOC_TYPES]
    empty = pl.all_horizontal(
        [(pl.col(c).is_null() | (pl.col(c).cast(pl.String) == "")) for c in identity_cols]
    )
    return frame.with_columns(_append_reason(empty, "no_identity"))


class SeenIds:
    """The record ids of a file's earlier batches, each with a 32-bit hash of it: a batch's
    ids are looked for among the hashes (a scan of 4 bytes an id, not of the strings), and
    the few ids whose hash is there are then compared whole, so the answer is exact."""

    def __init__(self) -> None:
        self.ids = pl.Series("record_id", [], dtype=pl.String)
        self.hashes = pl.Series("hash", [], dtype=pl.UInt32)

    @staticmethod
    def _hashes(ids: pl.Series) -> pl.Series:
        return (ids.hash() & 0xFFFFFFFF).cast(pl.UInt32)

    def add(self, ids: pl.Series) -> None:
        """Remember a batch's ids (in place: a chunk more, no copy)."""
        ids = ids.cast(pl.String).alias("record_id")
        self.ids.append(ids)
        self.hashes.append(self._hashes(ids).alias("hash"))

    def __len__(self) -> int:
        return len(self.ids)

    def among(self, ids: pl.Series) -> pl.Series:
        """The ids seen before that are among `ids`."""
        ids = ids.drop_nulls()
        hashed = self.hashes.is_in(self._hashes(ids).implode())
        candidates = self.ids.filter(hashed)
        return candidates.filter(candidates.is_in(ids.implode()))


def _increasing(rows: pl.Series) -> bool:
    return rows.null_count() == 0 and bool((rows.diff().drop_nulls() > 0).all())


def _duplicates(frame: pl.DataFrame, id_column: str, seen: pl.Series | SeenIds | None
                ) -> pl.DataFrame:
    """A record id seen before in the file: the later rows are rejected. The earlier batches'
    ids are scanned for this batch's ids (a set of the batch, not of the whole file)."""
    earlier = pl.Series("record_id", [], dtype=pl.String)
    if isinstance(seen, SeenIds) and len(seen):
        earlier = seen.among(frame["record_id"])
    elif seen is not None and len(seen):
        earlier = seen.filter(seen.is_in(frame["record_id"].drop_nulls().implode()))
    if _increasing(frame[ROW]):  # rows in file order: a repeat is any but the first
        again = ~pl.col("record_id").is_first_distinct()
    else:
        again = pl.col("record_id").is_duplicated() & (
            pl.col(ROW) != pl.col(ROW).min().over("record_id"))
    repeated = pl.col("record_id").is_not_null() & (
        again | pl.col("record_id").is_in(earlier.implode()))
    return frame.with_columns(_append_reason(repeated, f"duplicate_record_id({id_column})"))
