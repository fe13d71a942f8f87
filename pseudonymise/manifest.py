"""The manifest a privacy officer audits: counts that reconcile, hashes, key id, parameters.

It never holds a secret or an identity value: only counts, hashes, names of columns and
the encoding parameters.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

import migralink
from pseudonymise.spec import EncodingSpec, file_sha256

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Counts:
    rows_in: int
    encoded: int
    rejected: int
    reasons: dict[str, int]
    notes: dict[str, int]

    @property
    def reconciles(self) -> bool:
        return self.rows_in == self.encoded + self.rejected


def reason_counts(reasons: pl.Series) -> dict[str, int]:
    """How many rejected rows carry each reason (a row may carry several)."""
    counter: Counter[str] = Counter()
    for joined in reasons.to_list():
        counter.update(joined.split("|"))
    return dict(sorted(counter.items()))


def schema_sha256(output_file: Path) -> str:
    """Hash of the column names and types of the encoded Parquet file."""
    schema = pq.read_schema(output_file)
    text = ";".join(f"{f.name}:{f.type}" for f in schema)
    return hashlib.sha256(text.encode()).hexdigest()


def build_manifest(*, source: str, kind: str, key_id: str, key_generation: int,
                   input_file: Path, output_file: Path, rejects_file: Path, counts: Counts,
                   columns: list[str], spec: EncodingSpec, name_rules_sha256: str,
                   input_encoding: str, unmapped_columns: list[str],
                   exposure: dict | None = None, exposure_sample: float = 1.0,
                   hashes: Mapping[Path, str] | None = None) -> dict:
    """The manifest of one run. `hashes`: the SHA-256 of files the caller has hashed already
    (the others are hashed here)."""
    def sha256(path: Path) -> str:
        known = (hashes or {}).get(path)
        return known if known is not None else file_sha256(path)

    return {
        "manifest_version": MANIFEST_VERSION,
        "software": {"name": "migralink", "version": migralink.__version__},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "kind": kind,
        "key_id": key_id,
        "key_generation": key_generation,
        "input": {"file": input_file.name, "sha256": sha256(input_file),
                  "encoding": input_encoding, "unmapped_columns": unmapped_columns},
        "counts": {
            "rows_in": counts.rows_in,
            "encoded": counts.encoded,
            "rejected": counts.rejected,
            "reconciles": counts.reconciles,
            "reject_reasons": counts.reasons,
            "encoded_with_notes": counts.notes,
        },
        "rejects": {
            "file": rejects_file.name,
            "sha256": sha256(rejects_file),
            "note": "cleartext rows; kept by the producer, never sent to the hub",
        },
        "output": {
            "file": output_file.name,
            "sha256": sha256(output_file),
            "rows": counts.encoded,
            "columns": columns,
            "schema_sha256": schema_sha256(output_file),
        },
        "encoding": {"spec_sha256": spec.sha256,
                     "spec": spec.model_dump(exclude={"sha256"})},
        "name_rules_sha256": name_rules_sha256,
        # share of records whose name a frequency attack recovers (pseudonymise/exposure.py)
        "frequency_attack": exposure or {},
        # share of the extract's identities those figures were measured on (a large extract
        # is tallied on a consistent sample of identities, bounded in memory)
        "frequency_attack_sample": exposure_sample,
    }


def write_manifest(path: Path, manifest: dict) -> None:
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def read_manifest(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
