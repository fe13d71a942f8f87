"""Read a producer's raw extract: every data line becomes a row or a structural reject.

CSV is read line by line (one record per line, as administrative extracts are): a line with
the wrong number of fields, a broken quote or an undecodable byte is rejected on its own, and
the rest of the file is read. Errors that stop the job (no file, no header, a mapped column
missing from the header) name the file, line and column and never quote a value.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from migralink.config import SourceConfig
from migralink.errors import InputError

ROW = "_row"  # CSV: the line number in the file (header = line 1); Parquet: row number
RAW_LINE = "raw_line"  # a structurally broken line, kept whole in the rejects file
FALLBACK_ENCODING = "cp1252"  # Windows-1252: a superset of the printable Latin-1


@dataclass(frozen=True)
class RawExtract:
    rows: pl.DataFrame                 # ROW + every mapped column: stripped strings, "" -> null
    broken: pl.DataFrame               # ROW, reasons, RAW_LINE: lines that are not records
    encoding: str                      # the encoding the file was read with
    unmapped_columns: list[str] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return self.rows.height + self.broken.height


def decode(path: Path, data: bytes, declared: str) -> tuple[str, str]:
    """The file's text and the encoding used: as declared, or UTF-8 then Windows-1252."""
    candidates = ["utf-8-sig", FALLBACK_ENCODING] if declared == "auto" else [declared]
    for encoding in candidates:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as err:
            failure = err
        except LookupError:
            raise InputError(str(path), f"unknown encoding '{declared}' in the config") from None
    line = data[: failure.start].count(b"\n") + 1
    raise InputError(str(path), f"not valid {declared} text (byte {failure.start}); set "
                     "`encoding:` for this source (for example cp1252 or latin-1)", row=line)


def _header(path: Path, line: str, source: SourceConfig) -> list[str]:
    try:
        names = [n.strip() for n in next(csv.reader([line], delimiter=source.separator,
                                                     strict=True))]
    except csv.Error:
        names = []
    mapped = source.raw_columns()
    found = [c for c in mapped if c in names]
    if len(found) * 2 < len(mapped):  # not this file's header: do not echo it, it may be data
        raise InputError(str(path), f"line 1 is not a header with the mapped columns (found "
                         f"{len(found)} of {len(mapped)}, separator '{source.separator}'); "
                         "is the header missing or the separator wrong?", row=1)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(str(path), "column appears twice in the header", row=1,
                         column=repeated[0])
    for column in mapped:
        if column not in names:
            raise InputError(str(path), "mapped column is missing from the header "
                             f"(header: {', '.join(names)})", row=1, column=column)
    return names


def _cleaned(column: str) -> pl.Expr:
    """Surrounding spaces removed; an empty field is a missing value."""
    text = pl.col(column).cast(pl.String).str.strip_chars()
    return pl.when(text != "").then(text).alias(column)


def _split_plain(lines: pl.DataFrame, sep: str, width: int) -> pl.DataFrame:
    """Lines without quotes: split on the separator, vectorised."""
    fields = pl.col("text").str.split_exact(sep, width - 1).struct.unnest()
    return lines.select(ROW, fields, pl.col("text").str.count_matches(sep, literal=True)
                        .alias("_seps"))


def _split_quoted(lines: pl.DataFrame, sep: str, width: int) -> tuple[list[tuple], list[tuple]]:
    """Lines with quotes: the csv module, one line at a time, strict about quoting."""
    good, bad = [], []
    for row, text in lines.iter_rows():
        try:
            fields = next(csv.reader([text], delimiter=sep, strict=True))
        except csv.Error:
            bad.append((row, "malformed_quotes", text))
            continue
        if len(fields) != width:
            bad.append((row, f"wrong_field_count({len(fields)} of {width})", text))
        else:
            good.append((row, *fields))
    return good, bad


def read_csv(path: Path, source: SourceConfig) -> RawExtract:
    text, encoding = decode(path, path.read_bytes(), source.encoding)
    lines = text.split("\n")
    if not text.strip():
        raise InputError(str(path), "file is empty (no header line)")
    names = _header(path, lines[0].rstrip("\r"), source)
    width, sep = len(names), source.separator
    body = pl.DataFrame({ROW: range(2, len(lines) + 1), "text": lines[1:]},
                        schema={ROW: pl.Int64, "text": pl.String})
    body = body.with_columns(pl.col("text").str.strip_suffix("\r")).filter(
        pl.col("text").str.strip_chars() != "")
    quoted = pl.col("text").str.contains('"', literal=True)
    plain = _split_plain(body.filter(~quoted), sep, width)
    right = plain.filter(pl.col("_seps") == width - 1).drop("_seps")
    right.columns = [ROW, *names]
    wrong = plain.filter(pl.col("_seps") != width - 1).join(body, on=ROW).select(
        ROW, pl.format("wrong_field_count({} of {})", pl.col("_seps") + 1, pl.lit(width))
        .alias("reasons"), pl.col("text").alias(RAW_LINE))
    good, bad = _split_quoted(body.filter(quoted), sep, width)
    schema = {ROW: pl.Int64, **{n: pl.String for n in names}}
    rows = pl.concat([right, pl.DataFrame(good, schema=schema, orient="row")]).sort(ROW)
    broken_schema = {ROW: pl.Int64, "reasons": pl.String, RAW_LINE: pl.String}
    broken = pl.concat([wrong, pl.DataFrame(bad, schema=broken_schema, orient="row")]).sort(ROW)
    mapped = source.raw_columns()
    return RawExtract(
        rows=rows.select(ROW, *[_cleaned(c) for c in mapped]),
        broken=broken, encoding=encoding,
        unmapped_columns=[n for n in names if n not in mapped],
    )


def read_parquet(path: Path, source: SourceConfig) -> RawExtract:
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError):
        raise InputError(str(path), "cannot be read as Parquet") from None
    for column in source.raw_columns():
        if column not in frame.columns:
            raise InputError(str(path), "mapped column is missing "
                             f"(columns: {', '.join(frame.columns)})", column=column)
    mapped = source.raw_columns()
    rows = frame.select([_cleaned(c) for c in mapped])
    empty = pl.DataFrame(schema={ROW: pl.Int64, "reasons": pl.String, RAW_LINE: pl.String})
    return RawExtract(rows.with_row_index(ROW, offset=1).cast({ROW: pl.Int64}), empty,
                      "parquet", [c for c in frame.columns if c not in mapped])


def read_raw(path: Path, source: SourceConfig) -> RawExtract:
    """Read a raw extract as mapped; InputError when it cannot be read at all."""
    if not path.is_file():
        raise InputError(str(path), "file not found" if not path.exists() else "not a file")
    reader = read_parquet if source.format == "parquet" else read_csv
    return reader(path, source)
