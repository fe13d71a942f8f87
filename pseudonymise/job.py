"""`migralink pseudonymise`: one raw extract -> encoded Parquet + rejects + manifest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from migralink.config import JobConfig
from migralink.schema import EVENT_FIELDS
from pseudonymise.encode import encode_identity
from pseudonymise.keys import ProjectKey
from pseudonymise.manifest import Counts, build_manifest, reason_counts, write_manifest
from pseudonymise.normalise import NameRules
from pseudonymise.read import RAW_LINE, ROW, RawExtract, read_raw
from pseudonymise.spec import load_spec
from pseudonymise.validate import Parsed, parse


@dataclass(frozen=True)
class PseudonymiseResult:
    source: str
    counts: Counts
    encoded_file: Path
    manifest_file: Path
    rejects_file: Path


def write_encoded(frame: pl.DataFrame, path: Path, metadata: dict[str, str]) -> None:
    """Parquet with the key id and source in its metadata, so the file explains itself."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = frame.to_arrow()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    pq.write_table(table, path, compression="zstd")


def all_rejects(raw: RawExtract, parsed: Parsed) -> pl.DataFrame:
    """Rows rejected for their values and lines rejected for their structure, in file order."""
    return pl.concat([parsed.rejects.with_columns(pl.lit(None, pl.String).alias(RAW_LINE)),
                      raw.broken], how="diagonal").sort(ROW).rename({ROW: "row"})


def write_private_csv(frame: pl.DataFrame, path: Path) -> None:
    """Cleartext that stays with the producer: written readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    frame.write_csv(path)


def pseudonymise_source(config: JobConfig, name: str, key: ProjectKey,
                        today: date | None = None) -> PseudonymiseResult:
    """Validate, normalise and encode one source of the config with the project key."""
    source = config.source(name)
    raw_file = config.at(source.file)
    raw = read_raw(raw_file, source)
    parsed = parse(raw.rows, source, today, config.validation.oldest_age)

    spec = load_spec(config.rule(config.encoding))
    rules = NameRules.load(config.rule(Path("names")))
    identity = encode_identity(parsed.rows, spec, key, rules)
    events = parsed.rows.select(list(EVENT_FIELDS[source.kind]))
    encoded = pl.concat([identity, events], how="horizontal")

    encoded_file, rejects_file = config.encoded_file(name), config.rejects_file(name)
    write_encoded(encoded, encoded_file,
                  {"migralink.key_id": key.key_id, "migralink.source": name,
                   "migralink.kind": source.kind})
    rejects = all_rejects(raw, parsed)
    write_private_csv(rejects, rejects_file)

    counts = Counts(rows_in=raw.rows_in, encoded=encoded.height, rejected=rejects.height,
                    reasons=reason_counts(rejects["reasons"]), notes=parsed.notes)
    manifest = build_manifest(
        source=name, kind=source.kind, key_id=key.key_id, key_generation=key.generation,
        input_file=raw_file, output_file=encoded_file, rejects_file=rejects_file,
        counts=counts, encoded=encoded, spec=spec, name_rules_sha256=rules.sha256,
        input_encoding=raw.encoding, unmapped_columns=raw.unmapped_columns,
    )
    write_manifest(config.manifest_file(name), manifest)
    return PseudonymiseResult(name, counts, encoded_file, config.manifest_file(name),
                              rejects_file)
