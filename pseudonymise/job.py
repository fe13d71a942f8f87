"""`migralink pseudonymise`: one raw extract -> encoded Parquet + rejects + manifest.

The extract is read, validated and encoded a batch at a time, so memory stays bounded
whatever the size of the file; the counts of all batches go in the manifest. Three threads
share the work, in file order (polars and pyarrow let go of the interpreter while they work,
so two cores are busy): one reads and validates the next batch, one encodes this one, one
writes the one before.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TextIO, TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from migralink.config import JobConfig
from migralink.schema import EVENT_FIELDS
from migralink.timing import BatchDone
from pseudonymise.encode import IdentityEncoder
from pseudonymise.exposure import ExposureTally
from pseudonymise.joblog import log_pseudonymise
from pseudonymise.keys import ProjectKey
from pseudonymise.manifest import Counts, build_manifest, reason_counts, write_manifest
from pseudonymise.normalise import NameRules
from pseudonymise.read import BATCH_ROWS, RAW_LINE, ROW, RawBatch, RawReader, open_raw
from pseudonymise.spec import file_sha256, load_spec
from pseudonymise.validate import Parsed, SeenIds, check_identity_in_clear, parse


@dataclass(frozen=True)
class PseudonymiseResult:
    source: str
    counts: Counts
    encoded_file: Path
    manifest_file: Path
    rejects_file: Path


def batch_rejects(raw: RawBatch, parsed: Parsed) -> pl.DataFrame:
    """Rows rejected for their values and lines rejected for their structure, in file order."""
    return pl.concat([parsed.rejects.with_columns(pl.lit(None, pl.String).alias(RAW_LINE)),
                      raw.broken], how="diagonal").sort(ROW).rename({ROW: "row"})


@contextmanager
def _removed_on_error(path: Path) -> Iterator[None]:
    """Delete `path` (an output being written) if the block fails."""
    try:
        yield
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def open_private(path: Path) -> TextIO:
    """Cleartext that stays with the producer: a file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    """Zstd-compressed Parquet, but for the tokens (64-bit HMACs: zstd gains 5 % on them and
    costs a fifth of the writing); no min/max statistics for the tokens and filters (keyed
    hashes: their ranges prune nothing, and cost a sixth of the writing)."""
    hashed = {f.name for f in schema if pa.types.is_uint64(f.type) or pa.types.is_list(f.type)}
    return pq.ParquetWriter(
        path, schema, compression={n: "none" if n.startswith("tok_") else "zstd"
                                   for n in schema.names},
        write_statistics=[n for n in schema.names if n not in hashed])


def _batch_write(writer: pq.ParquetWriter, table: pa.Table, rejects: pl.DataFrame,
                 rejects_out: TextIO, header: bool) -> Callable[[], None]:
    """Writing one batch: its encoded rows, then its rejects."""
    def write() -> None:
        writer.write_table(table)
        rejects.write_csv(rejects_out, include_header=header)
    return write


@dataclass
class _Tally:
    rows_in: int = 0
    encoded: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)

    def add(self, raw: RawBatch, rejects: pl.DataFrame, encoded: int, parsed: Parsed) -> None:
        self.rows_in += raw.rows_in
        self.encoded += encoded
        self.rejected += rejects.height
        self.reasons.update(reason_counts(rejects["reasons"]))
        self.notes.update(parsed.notes)

    def counts(self) -> Counts:
        return Counts(self.rows_in, self.encoded, self.rejected,
                      dict(sorted(self.reasons.items())), dict(sorted(self.notes.items())))


T = TypeVar("T")
_DONE = object()  # what the read-ahead thread sends after the last batch


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """`items` in order, made in another thread while the one before is used: the next is
    started when this one is taken, so two are in memory at most. An error is raised where
    it happened in the sequence, after the items before it."""
    handover: queue.SimpleQueue = queue.SimpleQueue()
    taken, stop = threading.Event(), threading.Event()

    def make() -> None:
        try:
            for item in items:
                handover.put((item, None))
                taken.wait()
                taken.clear()
                if stop.is_set():
                    return
            handover.put((_DONE, None))
        except BaseException as error:  # noqa: BLE001 - handed over, raised by the reader
            handover.put((_DONE, error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # a generator stopped early closes its file here
                close()

    thread = threading.Thread(target=make, name="migralink-read", daemon=True)
    thread.start()
    try:
        while True:
            item, error = handover.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            taken.set()
            yield item
    finally:  # stopped early: the thread ends after the item it is making
        stop.set()
        taken.set()
        thread.join()


def parsed_batches(reader: RawReader, config: JobConfig, name: str, today: date | None,
                   batch_rows: int) -> Iterator[tuple[RawBatch, Parsed]]:
    """Each batch of the extract as read and as validated (record ids checked against the
    batches before); InputError when a batch shows an identity in clear."""
    source, seen = config.source(name), SeenIds()
    for raw in reader.batches(batch_rows):
        parsed = parse(raw.rows, source, today, config.validation, seen)
        check_identity_in_clear(parsed, raw.rows.height,
                                config.validation.identity_in_clear, str(reader.path))
        seen.add(parsed.rows["record_id"])
        yield raw, parsed


class _Writes:
    """Writes done one at a time in a thread, in the order given, while the caller goes on
    with the next batch; `wait` until the last is done (an error of a write is raised there
    or at the next `submit`)."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="migralink-write")
        self.pending: Future | None = None

    def submit(self, write: Callable[[], None]) -> None:
        self.wait()
        self.pending = self.pool.submit(write)

    def wait(self) -> None:
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self.pool.shutdown(wait=True)


def _write_batches(batches: Iterator[tuple[RawBatch, Parsed]], encoder: IdentityEncoder,
                   exposure: ExposureTally, config: JobConfig, name: str,
                   metadata: dict[str, str], partial: Path, rejects_out: TextIO,
                   on_batch: BatchDone | None) -> tuple[_Tally, pa.Schema]:
    """Encode each batch and write it (to `partial`, its rejects to `rejects_out`) in a
    thread while the next is encoded; gives the counts and the schema written."""
    source = config.source(name)
    events = list(EVENT_FIELDS[source.kind])
    tally, writer, schema = _Tally(), None, None
    with closing(_Writes()) as writes:
        for number, (raw, parsed) in enumerate(batches):
            encoded = pl.concat([encoder.encode(parsed.rows), parsed.rows.select(events)],
                                how="horizontal")
            table = encoded.to_arrow()
            if writer is None:
                schema = table.schema.with_metadata(metadata)
                writer = parquet_writer(partial, schema)
            rejects = batch_rejects(raw, parsed).select(
                "row", "reasons", *source.raw_columns(), RAW_LINE)
            writes.submit(_batch_write(writer, table.cast(schema), rejects, rejects_out,
                                       number == 0))
            tally.add(raw, rejects, encoded.height, parsed)
            exposure.add(parsed.rows, encoded)
            if on_batch is not None:
                on_batch(name, raw.rows_in)
        writes.wait()
    if writer is None:  # no line at all: still write a valid, empty extract and rejects
        empty = parse(pl.DataFrame(schema={ROW: pl.Int64, **{
            c: pl.String for c in source.raw_columns()}}), source)
        table = pl.concat([encoder.encode(empty.rows), empty.rows.select(events)],
                          how="horizontal").to_arrow()
        schema = table.schema.with_metadata(metadata)
        writer = parquet_writer(partial, schema)
        writer.write_table(table.cast(schema))
        rejects_out.write(",".join(["row", "reasons", *source.raw_columns(), RAW_LINE]) + "\n")
    writer.close()
    return tally, schema


def pseudonymise_source(config: JobConfig, name: str, key: ProjectKey,
                        today: date | None = None, batch_rows: int = BATCH_ROWS,
                        on_batch: BatchDone | None = None) -> PseudonymiseResult:
    """Validate, normalise and encode one source of the config with the project key.
    `on_batch(name, rows)` is told the rows read as each batch is done (the CLI's bars)."""
    source = config.source(name)
    raw_file = config.at(source.file)
    reader = open_raw(raw_file, source)
    spec = load_spec(config.rule(config.encoding))
    rules = NameRules.load(config.rule(Path("names")))
    encoder = IdentityEncoder(spec, key, rules)
    exposure = ExposureTally(rules, config.rule(Path("names")), spec.tokens.name_keys)
    encoded_file, rejects_file = config.encoded_file(name), config.rejects_file(name)
    encoded_file.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"migralink.key_id": key.key_id, "migralink.source": name,
                "migralink.kind": source.kind}

    # written under another name until complete: a job that stops half-way (an identity in
    # clear, a crash) leaves the previous extract, consistent with its manifest, in place
    partial = encoded_file.with_name(encoded_file.name + ".partial")
    # the files' hashes (manifest and job log) are made beside the other work
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="migralink-hash") as hashing:
        input_sha256 = hashing.submit(file_sha256, raw_file)
        batches = read_ahead(parsed_batches(reader, config, name, today, batch_rows))
        with (open_private(rejects_file) as rejects_out, _removed_on_error(partial),
              closing(batches)):
            tally, schema = _write_batches(batches, encoder, exposure, config, name,
                                           metadata, partial, rejects_out, on_batch)
            partial.replace(encoded_file)
        output_sha256 = hashing.submit(file_sha256, encoded_file)
        figures = exposure.figures()
        hashes = {raw_file: input_sha256.result(), encoded_file: output_sha256.result(),
                  rejects_file: file_sha256(rejects_file)}

    counts = tally.counts()
    manifest = build_manifest(
        source=name, kind=source.kind, key_id=key.key_id, key_generation=key.generation,
        input_file=raw_file, output_file=encoded_file, rejects_file=rejects_file,
        counts=counts, columns=schema.names, spec=spec, name_rules_sha256=rules.sha256,
        input_encoding=reader.encoding, unmapped_columns=reader.unmapped_columns,
        exposure=figures, exposure_sample=exposure.sample, hashes=hashes,
    )
    write_manifest(config.manifest_file(name), manifest)
    result = PseudonymiseResult(name, counts, encoded_file, config.manifest_file(name),
                                rejects_file)
    log_pseudonymise(config, result, raw_file, key.key_id, hashes)
    return result
