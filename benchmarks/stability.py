"""`migralink bench stability`: do person ids survive the next run?

The demo pipeline (synthesise -> demo key -> pseudonymise -> link) runs twice in one
directory: first on extracts cut a month (`months`) before the period end, then on the whole
extracts (the same population, the same earlier records, a month more of events). The second run
carries ids from the first's registry (person_ids.parquet). Figures, all from counts:

- kept_share: run-1 person ids that some run-2 person still holds (the target is >= 0.99);
- identities_same_id_share, records_same_id_share: run-1 identities / records whose run-2
  person id is the one they had;
- exact_persons_same_id_share: of the run-1 persons that were exactly one true person's
  records, the share whose records all still carry that person's id (the honest one: an id
  kept by the wrong cluster counts in kept_share, not here);
- merges and splits as the second run counted them.
"""

from __future__ import annotations

import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from linkage.job import period_bounds, run_link
from migralink.config import CONFIGS_DIR, JobConfig, load_config
from migralink.demo import demo_key
from pseudonymise.job import pseudonymise_source


def cut_off(config: JobConfig, months: int = 1) -> date:
    """The last day `months` months before the period's end (2025-11-30 for 2025-12 and 1)."""
    end = period_bounds(config)[1]
    first = end.year * 12 + end.month - 1 - (months - 1)  # first month left out
    return date(first // 12, first % 12 + 1, 1) - timedelta(days=1)


def _pipeline(config: JobConfig, persons: int, seed: int, until: date | None):  # noqa: ANN202
    from benchmarks.synth import synthesise

    synthesise(persons, seed, config.workdir, until=until)
    key = demo_key(config, seed)
    for name in config.sources:
        pseudonymise_source(config, name, key)
    return run_link(config)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def compare_runs(con: duckdb.DuckDBPyConnection) -> dict:
    """Figures from tables run1 / run2 (source, record_id, identity_id, person_id) and truth
    (source, record_id, person_id)."""
    identities, same_identities = con.execute("""
        WITH a AS (SELECT DISTINCT identity_id, person_id FROM run1),
             b AS (SELECT DISTINCT identity_id, person_id FROM run2)
        SELECT count(*), count(*) FILTER (WHERE a.person_id = b.person_id)
        FROM a LEFT JOIN b USING (identity_id)
    """).fetchall()[0]
    records, same_records = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE a.person_id = b.person_id)
        FROM run1 a LEFT JOIN run2 b USING (source, record_id)
    """).fetchall()[0]
    exact, exact_same = con.execute("""
        WITH cells AS (
            SELECT r.person_id, t.person_id AS truth, count(*) AS n
            FROM run1 r JOIN truth t USING (source, record_id) GROUP BY ALL
        ), sized AS (
            SELECT person_id, n, sum(n) OVER (PARTITION BY person_id) AS person_n,
                   sum(n) OVER (PARTITION BY truth) AS truth_n
            FROM cells
        ), exact AS (SELECT person_id FROM sized WHERE n = person_n AND n = truth_n),
        kept AS (
            SELECT e.person_id, bool_and(coalesce(b.person_id = e.person_id, false)) AS same
            FROM exact e JOIN run1 a USING (person_id)
            LEFT JOIN run2 b USING (source, record_id)
            GROUP BY e.person_id
        )
        SELECT count(*), count(*) FILTER (WHERE same) FROM kept
    """).fetchall()[0]
    return {"identities_same_id_share": _share(same_identities, identities),
            "records_same_id_share": _share(same_records, records),
            "exact_persons_run1": exact,
            "exact_persons_same_id_share": _share(exact_same, exact)}


def run_stability(persons: int, seed: int = 1, out: Path | None = None, months: int = 1
                  ) -> dict:
    """Two runs in one directory (`out`, or a temporary one), the first on extracts cut
    `months` months before the period end; returns the figures."""
    if out is None:
        with tempfile.TemporaryDirectory(prefix="migralink-stability-") as tmp:
            return run_stability(persons, seed, Path(tmp), months)
    start = time.perf_counter()
    config = load_config(CONFIGS_DIR / "demo.yaml", workdir=out)
    until = cut_off(config, months)
    first = _pipeline(config, persons, seed, until)
    kept = out / "stability"
    kept.mkdir(exist_ok=True)
    links = "SELECT source, record_id, identity_id, person_id FROM record_links"
    first.con.execute(f"COPY ({links}) TO '{kept / 'run1_links.parquet'}' (FORMAT parquet)")
    first.con.close()
    second = _pipeline(config, persons, seed, None)
    second.con.execute(f"COPY ({links}) TO '{kept / 'run2_links.parquet'}' (FORMAT parquet)")
    ids = second.person_ids
    second.con.close()

    con = duckdb.connect()
    for run in ("run1", "run2"):
        con.execute(f"CREATE TABLE {run} AS SELECT * FROM "
                    f"read_parquet('{kept / (run + '_links.parquet')}')")
    truth = config.at(config.paths.truth) / "records.parquet"
    con.execute("CREATE TABLE truth AS SELECT source, record_id, CAST(person_id AS VARCHAR) "
                f"AS person_id FROM read_parquet('{truth}')")
    persons_run1 = con.execute("SELECT count(DISTINCT person_id) FROM run1").fetchall()[0][0]
    figures = {
        "benchmark": "stability", "persons": persons, "seed": seed, "until": until.isoformat(),
        "records_run1": con.execute("SELECT count(*) FROM run1").fetchall()[0][0],
        "records_run2": con.execute("SELECT count(*) FROM run2").fetchall()[0][0],
        "persons_run1": persons_run1, "persons_run2": ids.persons,
        "kept": ids.kept, "kept_share": _share(ids.kept, persons_run1),
        "new": ids.new, "merges": ids.merges, "splits": ids.splits, "retired": ids.retired,
        **compare_runs(con),
        "seconds": round(time.perf_counter() - start, 1),
    }
    con.close()
    return figures
