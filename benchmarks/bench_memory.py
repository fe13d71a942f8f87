"""Peak memory of `pseudonymise_source` on a large border-crossings extract.

The extract is written in the demo's raw format (configs/demo.yaml, source `border`) a chunk
at a time, so the generator stays small; the job then runs in a child process, whose peak
resident memory the parent reads from `getrusage(RUSAGE_CHILDREN)`.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.bench_encode import BENCH_KEY, make_records
from benchmarks.synth.extracts import COLUMNS, RAW_FILES, SEPARATOR
from migralink.config import CONFIGS_DIR, load_config
from pseudonymise.read import BATCH_ROWS

CHUNK_ROWS = 250_000
POSTS = ("Tanger Med", "Bab Sebta", "Aeroport Mohammed V", "Bab Mellilia", "Port de Tanger")
FIRST_CROSSING, LAST_CROSSING = np.datetime64("2019-01-01"), np.datetime64("2025-12-31")


def _day_month(part: str) -> pl.Expr:
    """A birth day or month as the border police write it: two digits, 00 when unknown."""
    return pl.col(part).cast(pl.String).str.zfill(2).fill_null("00")


def border_rows(n: int, seed: int, offset: int) -> pl.DataFrame:
    """`n` raw border-crossing rows (the demo's column names and formats), numbered after
    `offset`; one identity per row, with the document chosen by its type."""
    rng = np.random.default_rng([seed, offset, 1])
    records = make_records(n, seed, offset)
    span = int((LAST_CROSSING - FIRST_CROSSING).astype(int)) + 1
    crossing = FIRST_CROSSING + rng.integers(0, span, n).astype("timedelta64[D]")
    cnie = pl.Series(rng.random(n) < 0.5)
    frame = records.with_columns(
        id_passage=pl.format("BP{}", pl.int_range(offset + 1, offset + n + 1)
                             .cast(pl.String).str.zfill(9)),
        date_naissance=pl.format("{}/{}/{}", _day_month("birth_day"), _day_month("birth_month"),
                                 pl.col("birth_year")),
        num_document=pl.when(cnie).then("doc_national_id").otherwise("doc_passport"),
        type_document=pl.when(cnie).then(pl.lit("CNIE")).otherwise(pl.lit("PASSEPORT")),
        date_passage=pl.Series(crossing).dt.strftime("%d/%m/%Y"),
        sens=pl.Series(["E", "S"]).gather(rng.integers(0, 2, n)),
        poste=pl.Series(POSTS).gather(rng.integers(0, len(POSTS), n)),
    )
    return frame.rename({"given_name": "prenom", "family_name": "nom", "sex": "sexe",
                         "nationality": "nationalite"}).select(COLUMNS["border"])


def write_border_csv(path: Path, rows: int, seed: int = 1, chunk_rows: int = CHUNK_ROWS) -> int:
    """Write `rows` border-crossing rows to `path` a chunk at a time; return the file size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        for offset in range(0, rows, chunk_rows):
            chunk = border_rows(min(chunk_rows, rows - offset), seed, offset)
            chunk.write_csv(out, separator=SEPARATOR["border"], include_header=offset == 0)
    return path.stat().st_size


def pseudonymise_in_child(workdir: str, batch_rows: int) -> tuple[float, dict[str, int]]:
    """Run in the child: encode the border source of the demo config in `workdir`."""
    from pseudonymise.job import pseudonymise_source

    config = load_config(CONFIGS_DIR / "demo.yaml", workdir=workdir)
    start = time.perf_counter()
    result = pseudonymise_source(config, "border", BENCH_KEY, batch_rows=batch_rows)
    counts = result.counts
    return time.perf_counter() - start, {"rows_in": counts.rows_in, "encoded": counts.encoded,
                                         "rejected": counts.rejected}


def peak_child_rss_mib() -> float:
    """Largest resident set of any child waited for so far (ru_maxrss: KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / (1 << 20 if sys.platform == "darwin" else 1 << 10)


def run_memory_benchmark(rows: int, batch_rows: int = BATCH_ROWS, seed: int = 1,
                         workdir: Path | None = None) -> dict[str, Any]:
    """Write an R-row extract, pseudonymise it in a child process; the figures as one dict
    (the `bench memory` JSON line). A temporary directory unless `workdir` is given."""
    with tempfile.TemporaryDirectory(prefix="migralink-bench-") as temporary:
        root = Path(workdir or temporary)
        file_bytes = write_border_csv(root / "raw" / RAW_FILES["border"], rows, seed)
        # spawn, not fork: the child starts without the parent's memory
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            seconds, counts = pool.submit(pseudonymise_in_child, str(root), batch_rows).result()
    return {"benchmark": "memory", "rows": rows, "batch_rows": batch_rows,
            "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "peak_rss_mib": round(peak_child_rss_mib(), 1),
            "file_mib": round(file_bytes / (1 << 20), 1), **counts}
