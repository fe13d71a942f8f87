"""Read a producer's raw extract in batches: every data line becomes a row or a reject.

CSV is read line by line (one record per line, as administrative extracts are), a batch of
lines at a time, so a file larger than memory is read at bounded memory. A line with the wrong
number of fields, a broken quote or a control character is rejected on its own and the rest is
read. Errors that stop the job (no file, no header, a mapped column missing from the header,
text not in the declared encoding; under `encoding: auto`, a file that mixes UTF-8 with
another encoding, or UTF-16/UTF-32 text) name the file, line and column and never quote a
value.
Parquet and Excel (.xlsx) extracts are read by the same rules.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from migralink.config import SourceConfig
from migralink.errors import InputError

ROW = "_row"  # CSV: the line number in the file (header = line 1); Parquet, Excel: data row
RAW_LINE = "raw_line"  # a structurally broken line, kept whole in the rejects file
FALLBACK_ENCODING = "cp1252"  # Windows-1252: a superset of the printable Latin-1
BATCH_ROWS = 250_000
SEPARATORS = (";", ",", "\t", "|")
_BROKEN_SCHEMA = {ROW: pl.Int64, "reasons": pl.String, RAW_LINE: pl.String}


@dataclass(frozen=True)
class RawBatch:
    rows: pl.DataFrame    # ROW + every mapped column: stripped strings, "" -> null
    broken: pl.DataFrame  # ROW, reasons, RAW_LINE: lines that are not records

    @property
    def rows_in(self) -> int:
        return self.rows.height + self.broken.height


@dataclass
class RawReader:
    """An opened extract: its header checked, its rows to come in batches."""

    path: Path
    source: SourceConfig
    encoding: str
    separator: str = ","
    header: list[str] = field(default_factory=list)
    unmapped_columns: list[str] = field(default_factory=list)

    def batches(self, size: int = BATCH_ROWS) -> Iterator[RawBatch]:
        if self.source.format == "parquet":
            yield from _parquet_batches(self, size)
        elif self.source.format == "xlsx":
            yield from _excel_batches(self, size)
        else:
            yield from _csv_batches(self, size)


def _cleaned(column: str) -> pl.Expr:
    """Surrounding spaces removed; an empty field is a missing value."""
    text = pl.col(column).cast(pl.String).str.strip_chars()
    return pl.when(text != "").then(text).alias(column)


def _check_header(path: Path, names: list[str], source: SourceConfig, separator: str) -> None:
    mapped = source.raw_columns()
    found = [c for c in mapped if c in names]
    if len(found) * 2 < len(mapped):  # not this file's header: do not echo it, it may be data
        raise InputError(str(path), f"line 1 is not a header with the mapped columns (found "
                         f"{len(found)} of {len(mapped)}, separator '{separator}'); "
                         "is the header missing or the separator wrong?", row=1)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(str(path), "column appears twice in the header", row=1,
                         column=repeated[0])
    for column in mapped:
        if column not in names:
            raise InputError(str(path), "mapped column is missing from the header "
                             f"(header: {', '.join(names)})", row=1, column=column)


# --- CSV -------------------------------------------------------------------------------------


BLOCK_BYTES = 1 << 22  # the encoding is checked a block at a time: a file is never held whole
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
              (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
# a lead byte and a continuation byte: where a line may be UTF-8 (checked by decoding it)
_UTF8_START = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")


def _after_last_ascii(block: bytes) -> int:
    """Where to cut a block with no line end without splitting a UTF-8 character: after its
    last ASCII byte (so a very long line, or a file of lines ended by CR only, is never
    gathered whole)."""
    match = re.search(rb"[\x00-\x7f][\x80-\xff]*\Z", block)
    return match.start() + 1 if match else len(block)


def _line_chunks(path: Path) -> Iterator[tuple[int, bytes]]:
    """The file's bytes in blocks of whole lines, each with the offset of its first byte."""
    offset, rest = 0, b""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK_BYTES), b""):
            block = rest + block
            cut = block.rfind(b"\n") + 1 or _after_last_ascii(block)
            chunk, rest = block[:cut], block[cut:]
            if chunk:
                yield offset, chunk
                offset += len(chunk)
    if rest:
        yield offset, rest


def _line_of_byte(path: Path, offset: int) -> int:
    """The number of the line holding byte `offset` of the file (counted only when a line
    must be named: most files never need it)."""
    line = 1
    with open(path, "rb") as handle:
        while offset > 0 and (block := handle.read(min(BLOCK_BYTES, offset))):
            line += block.count(b"\n")
            offset -= len(block)
    return line


def _first_utf8_line(chunk: bytes, first: int) -> int | None:
    """The first line of `chunk` (numbered from `first`) that is UTF-8 with a non-ASCII
    character, or None."""
    position = 0
    while match := _UTF8_START.search(chunk, position):
        start = chunk.rfind(b"\n", 0, match.start()) + 1
        end = chunk.find(b"\n", match.end())
        end = len(chunk) if end < 0 else end
        try:
            chunk[start:end].decode("utf-8")
            return first + chunk.count(b"\n", 0, start)
        except UnicodeDecodeError:
            position = end + 1
    return None


@dataclass
class _Utf8Evidence:
    utf8_line: int | None = None   # the first line that is UTF-8 with a non-ASCII character
    other_line: int | None = None  # the first line whose bytes are not UTF-8


def _utf8_evidence(path: Path) -> _Utf8Evidence:
    """Where the file is UTF-8 beyond ASCII (a BOM counts) and where it is not UTF-8."""
    found = _Utf8Evidence()
    for start, chunk in _line_chunks(path):
        if chunk.isascii():
            continue
        if found.other_line is None:
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError as err:
                found.other_line = (_line_of_byte(path, start)
                                    + chunk.count(b"\n", 0, err.start))
        if found.utf8_line is None and (line := _first_utf8_line(chunk, 0)) is not None:
            found.utf8_line = _line_of_byte(path, start) + line
        if found.utf8_line is not None and found.other_line is not None:
            break
    return found


def _refuse_wide(path: Path) -> None:
    """InputError for UTF-16 or UTF-32 text, which `encoding: auto` does not guess (and for
    a workbook or Parquet file mapped as CSV, whose NUL bytes would look like it)."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    for magic, fmt in ((b"PK\x03\x04", "xlsx"), (b"PAR1", "parquet")):
        if head.startswith(magic):
            raise InputError(str(path), f"not CSV text but a binary file (is it {fmt}?); "
                             f"set `format: {fmt}` for this source", row=1)
    for bom, name in _WIDE_BOMS:
        if head.startswith(bom):
            raise InputError(str(path), f"the file is {name} text (byte-order mark "
                             f"{bom.hex(' ').upper()}), which `encoding: auto` does not read; "
                             f"save it as UTF-8, or declare `encoding: {name.lower()}` for "
                             "this source", row=1)
    if head.count(0) * 10 > len(head):
        raise InputError(str(path), "the file looks like UTF-16 or UTF-32 text without a "
                         "byte-order mark (NUL bytes in its first 4 KiB); save it as UTF-8, or "
                         "declare its encoding (`utf-16-le`, `utf-16-be`...) for this source",
                         row=1)


def _auto_encoding(path: Path) -> str:
    """UTF-8 (BOM or not) if every line is UTF-8, Windows-1252 if no line beyond ASCII is;
    InputError for a file that mixes them (decoded whole either way, some names would be
    garbled) and for UTF-16 or UTF-32 text."""
    _refuse_wide(path)
    found = _utf8_evidence(path)
    if found.other_line is None:
        return "utf-8-sig"
    if found.utf8_line is not None:
        with open(path, "rb") as handle:
            bom = found.utf8_line == 1 and handle.read(3) == codecs.BOM_UTF8
        utf8 = "starts with a UTF-8 byte-order mark" if bom else "is UTF-8 beyond ASCII"
        raise InputError(str(path), f"mixed encodings: this line is not UTF-8, but line "
                         f"{found.utf8_line} {utf8}; re-save the whole file in one encoding "
                         "(UTF-8), or declare `encoding:` for this source if it is all "
                         "Windows-1252", row=found.other_line)
    return FALLBACK_ENCODING


def _first_undecodable(path: Path, encoding: str) -> int | None:
    """The offset of the first byte of the file that is not text in `encoding`, or None."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with open(path, "rb") as handle:
        for block in itertools.chain(iter(lambda: handle.read(BLOCK_BYTES), b""), [b""]):
            pending = len(decoder.getstate()[0])  # bytes of a character cut by the block
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as err:
                return offset - pending + max(err.start, 0)
            offset += len(block)
    return None


def _line_at(path: Path, encoding: str, offset: int) -> int:
    """The number of the line holding byte `offset` (the bytes before it decode)."""
    decoder, line = codecs.getincrementaldecoder(encoding)(), 1
    with open(path, "rb") as handle:
        while offset > 0 and (block := handle.read(min(BLOCK_BYTES, offset))):
            line += decoder.decode(block).count("\n")
            offset -= len(block)
    return line


def _known_codec(path: Path, name: str) -> str:
    try:
        codecs.lookup(name)
    except LookupError:
        raise InputError(str(path), f"unknown encoding '{name}' in the config") from None
    return name


def _encoding_of(path: Path, declared: str) -> str:
    """The declared encoding, or for `auto` the one detected; InputError when the text does
    not decode, naming its line."""
    if declared == "auto":
        encoding = _auto_encoding(path)
        if encoding == "utf-8-sig":
            return encoding  # every line decoded while detecting
    else:
        encoding = _known_codec(path, declared)
    bad = _first_undecodable(path, encoding)
    if bad is not None:
        expected = "UTF-8 or Windows-1252" if declared == "auto" else declared
        raise InputError(str(path), f"not valid {expected} text (near byte {bad}); set "
                         "`encoding:` for this source (for example cp1252 or latin-1)",
                         row=_line_at(path, encoding, bad))
    return encoding


def open_csv(path: Path, source: SourceConfig) -> RawReader:
    encoding = _encoding_of(path, source.encoding)
    with open(path, encoding=encoding, newline="") as handle:
        first = handle.readline()
    if not first.strip():
        raise InputError(str(path), "file is empty (no header line)")
    first = first.rstrip("\r\n").removeprefix("\ufeff")  # a BOM the declared codec kept
    separator = source.separator
    if separator == "auto":  # the candidate that splits the header into the most columns
        separator = max(SEPARATORS, key=first.count)
    try:
        names = [n.strip() for n in next(csv.reader([first], delimiter=separator, strict=True))]
    except csv.Error:
        names = []
    _check_header(path, names, source, separator)
    mapped = source.raw_columns()
    return RawReader(path, source, encoding, separator, names,
                     [n for n in names if n not in mapped])


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


def split_lines(body: pl.DataFrame, reader: RawReader) -> RawBatch:
    """(ROW, text) lines -> mapped rows and broken lines."""
    names, sep, width = reader.header, reader.separator, len(reader.header)
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
    broken = pl.concat([wrong, pl.DataFrame(bad, schema=_BROKEN_SCHEMA, orient="row")])
    mapped = reader.source.raw_columns()
    return RawBatch(rows.select(ROW, *[_cleaned(c) for c in mapped]), broken.sort(ROW))


def _csv_batches(reader: RawReader, size: int) -> Iterator[RawBatch]:
    # newline="\n" keeps "\r" and other line breaks inside a line: only "\n" ends a record
    with open(reader.path, encoding=reader.encoding, newline="\n") as handle:
        handle.readline()
        first_line = 2
        while True:
            lines = list(itertools.islice(handle, size))
            if not lines:
                return
            body = pl.DataFrame(
                {ROW: range(first_line, first_line + len(lines)),
                 "text": [line.rstrip("\n") for line in lines]},
                schema={ROW: pl.Int64, "text": pl.String})
            first_line += len(lines)
            yield split_lines(body, reader)


# --- Parquet and Excel -------------------------------------------------------------------------


def _frame_batch(frame: pl.DataFrame, first_row: int, source: SourceConfig) -> RawBatch:
    rows = frame.select(
        pl.int_range(first_row, first_row + frame.height, dtype=pl.Int64).alias(ROW),
        *[_cleaned(c) for c in source.raw_columns()])
    return RawBatch(rows, pl.DataFrame(schema=_BROKEN_SCHEMA))


def open_parquet(path: Path, source: SourceConfig) -> RawReader:
    try:
        names = pq.read_schema(path).names
    except Exception:  # noqa: BLE001 - pyarrow raises several types for a non-Parquet file
        raise InputError(str(path), "cannot be read as Parquet") from None
    _check_header(path, names, source, "-")
    return RawReader(path, source, "parquet", "-", names,
                     [n for n in names if n not in source.raw_columns()])


def _parquet_batches(reader: RawReader, size: int) -> Iterator[RawBatch]:
    first_row = 1
    for batch in pq.ParquetFile(reader.path).iter_batches(
            batch_size=size, columns=reader.source.raw_columns()):
        frame = pl.from_arrow(batch)
        yield _frame_batch(frame, first_row, reader.source)
        first_row += frame.height


def _read_excel(path: Path, source: SourceConfig) -> pl.DataFrame:
    try:
        return pl.read_excel(path, sheet_id=1, infer_schema_length=0)
    except Exception:  # noqa: BLE001 - fastexcel raises its own types for broken files
        raise InputError(str(path), "cannot be read as an Excel .xlsx workbook") from None


def open_excel(path: Path, source: SourceConfig) -> RawReader:
    names = [n.strip() for n in _read_excel(path, source).columns]
    _check_header(path, names, source, "-")
    return RawReader(path, source, "xlsx", "-", names,
                     [n for n in names if n not in source.raw_columns()])


def _excel_batches(reader: RawReader, size: int) -> Iterator[RawBatch]:
    # a workbook is at most ~1 million rows and read whole; row 1 is the header
    frame = _read_excel(reader.path, reader.source)
    frame.columns = [c.strip() for c in frame.columns]
    for start in range(0, frame.height, size):
        yield _frame_batch(frame.slice(start, size), start + 2, reader.source)


def open_raw(path: Path, source: SourceConfig) -> RawReader:
    """Open a raw extract and check its header; InputError when it cannot be read as mapped."""
    if not path.is_file():
        raise InputError(str(path), "file not found" if not path.exists() else "not a file")
    opener = {"parquet": open_parquet, "xlsx": open_excel}.get(source.format, open_csv)
    return opener(path, source)


def read_raw(path: Path, source: SourceConfig) -> RawBatch:
    """The whole extract as one batch (for small files and tests)."""
    batches = list(open_raw(path, source).batches())
    if not batches:
        return RawBatch(pl.DataFrame(schema={ROW: pl.Int64, **{
            c: pl.String for c in source.raw_columns()}}), pl.DataFrame(schema=_BROKEN_SCHEMA))
    return RawBatch(pl.concat([b.rows for b in batches]), pl.concat([b.broken for b in batches]))
