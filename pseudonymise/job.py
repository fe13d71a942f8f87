"""`migralink pseudonymise`: one raw extract -> encoded Parquet + rejects + manifest.

The extract is read, validated and encoded a batch at a time, so memory stays bounded
whatever the size of the file; the counts of all batches go in the manifest.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TextIO

import polars as pl
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
from pseudonymise.read import BATCH_ROWS, RAW_LINE, ROW, RawBatch, open_raw
from pseudonymise.spec import load_spec
from pseudonymise.validate import Parsed, check_identity_in_clear, parse


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
    events = list(EVENT_FIELDS[source.kind])
    encoded_file, rejects_file = config.encoded_file(name), config.rejects_file(name)
    encoded_file.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"migralink.key_id": key.key_id, "migralink.source": name,
                "migralink.kind": source.kind}

    # written under another name until complete: a job that stops half-way (an identity in
    # clear, a crash) leaves the previous extract, consistent with its manifest, in place
    partial = encoded_file.with_name(encoded_file.name + ".partial")
    tally, writer, schema = _Tally(), None, None
    seen_ids = pl.Series("record_id", [], dtype=pl.String)
    with open_private(rejects_file) as rejects_out, _removed_on_error(partial):
        for number, raw in enumerate(reader.batches(batch_rows)):
            parsed = parse(raw.rows, source, today, config.validation, seen_ids)
            check_identity_in_clear(parsed, raw.rows.height,
                                    config.validation.identity_in_clear, str(raw_file))
            seen_ids.append(parsed.rows["record_id"])  # in place: a chunk more, no copy
            encoded = pl.concat([encoder.encode(parsed.rows), parsed.rows.select(events)],
                                how="horizontal")
            table = encoded.to_arrow()
            if writer is None:
                schema = table.schema.with_metadata(metadata)
                writer = pq.ParquetWriter(partial, schema, compression="zstd")
            writer.write_table(table.cast(schema))
            rejects = batch_rejects(raw, parsed).select(
                "row", "reasons", *source.raw_columns(), RAW_LINE)
            rejects.write_csv(rejects_out, include_header=number == 0)
            tally.add(raw, rejects, encoded.height, parsed)
            exposure.add(parsed.rows, encoded)
            if on_batch is not None:
                on_batch(name, raw.rows_in)
        if writer is None:  # no line at all: still write a valid, empty extract and rejects
            empty = parse(pl.DataFrame(schema={ROW: pl.Int64, **{
                c: pl.String for c in source.raw_columns()}}), source, today)
            table = pl.concat([encoder.encode(empty.rows), empty.rows.select(events)],
                              how="horizontal").to_arrow()
            schema = table.schema.with_metadata(metadata)
            writer = pq.ParquetWriter(partial, schema, compression="zstd")
            writer.write_table(table.cast(schema))
            rejects_out.write(",".join(["row", "reasons", *source.raw_columns(), RAW_LINE])
                              + "\n")
        writer.close()
        partial.replace(encoded_file)

    counts = tally.counts()
    manifest = build_manifest(
        source=name, kind=source.kind, key_id=key.key_id, key_generation=key.generation,
        input_file=raw_file, output_file=encoded_file, rejects_file=rejects_file,
        counts=counts, columns=schema.names, spec=spec, name_rules_sha256=rules.sha256,
        input_encoding=reader.encoding, unmapped_columns=reader.unmapped_columns,
        exposure=exposure.figures(), exposure_sample=exposure.sample,
    )
    write_manifest(config.manifest_file(name), manifest)
    result = PseudonymiseResult(name, counts, encoded_file, config.manifest_file(name),
                                rejects_file)
    log_pseudonymise(config, result, raw_file, key.key_id)
    return result
