"""splink on cleartext: what a careful splink user would run on the same raw records.

The baseline migralink is measured against (`migralink bench vs-splink`). Both sides start
from the same cleaned records: each source is read and validated by migralink's own producer
layer (pseudonymise.read, pseudonymise.validate) and its names and document numbers
normalised by the same rules (pseudonymise.normalise), exactly the values the encoder hashes.
Here they stay in clear. Each source is then collapsed to distinct identity tuples, the unit
linkage.load makes of the encoded records, so the pair F1 of both sides counts the same unit.

The splink model (splink 5, DuckDB):
- dedupe_only over all sources' identities (links across and within sources);
- blocking: each document number; full birth date with the first two letters of the given
  name, or of the family name; both names (and both names swapped);
- comparisons: on given and family name the levels of splink's NameComparison (exact with
  term-frequency adjustment, Jaro-Winkler 0.92 / 0.88 / 0.70) and one for names swapped
  between the fields; birth date by levels (full date, one edit, day and month transposed,
  year and month, year where one side has only a year, year, year within one); ExactMatch on
  sex, nationality and each document type;
- training: the prior from deterministic rules on the documents (recall 0.7), u by random
  sampling (5 million pairs), m by EM on three blocking passes (full birth date; national
  id; passport). These are migralink's own training settings (rules/linkage/default.yaml);
  an EM pass on both names instead takes namesakes for matches (it put m of "birth dates
  differ" at 0.55).
Measured at 20,000 / 200,000 persons (seed 1), best-threshold pair F1: 0.9972 / 0.9896; with
splink's plain NameComparison (no swapped-names level) 0.9913 / 0.9831.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import polars as pl
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.splink_dataframe import SplinkDataFrame

from migralink.config import JobConfig
from migralink.schema import DOC_TYPES
from migralink.timing import Laps
from pseudonymise.normalise import NameRules, normalise_documents, normalise_names
from pseudonymise.read import BATCH_ROWS, open_raw
from pseudonymise.validate import parse

# One row per distinct identity of one source (the splink input table).
IDENTITY_FIELDS = ("given_name", "family_name", "birth_year", "birth_month", "birth_day",
                   "sex", "nationality", *DOC_TYPES)
CLEAR_COLUMNS = ("unique_id", "source_dataset", "given_name", "family_name", "birth_date",
                 "birth_year", "birth_month", "birth_day", "sex", "nationality", *DOC_TYPES,
                 "n_records")
DOCUMENT_RULES = [block_on(t) for t in DOC_TYPES]
DEFAULT_THRESHOLD = 0.5       # splink's natural cut: a match more likely than not
PREDICT_FLOOR = 0.05          # pairs below the lowest scanned threshold are never kept
U_MAX_PAIRS = 5e6             # as migralink's rules (rules/linkage/default.yaml)
U_SEED = 20181012
DETERMINISTIC_RECALL = 0.7    # as migralink's rules


def cleartext_records(config: JobConfig, name: str, batch_rows: int = BATCH_ROWS
                      ) -> pl.DataFrame:
    """One source's raw extract as `pseudonymise` sees it just before encoding: the rows
    that validate, with names and document numbers normalised (the rows it rejects are left
    out here too). Columns: record_id and IDENTITY_FIELDS."""
    source = config.source(name)
    reader = open_raw(config.at(source.file), source)
    rules = NameRules.load(config.rule(Path("names")))
    seen = pl.Series("record_id", [], dtype=pl.String)
    frames = []
    for raw in reader.batches(batch_rows):
        rows = parse(raw.rows, source, None, config.validation, seen).rows
        seen.append(rows["record_id"])
        frames.append(rows.select(
            "record_id",
            normalise_names(rows["given_name"], "given_name", rules),
            normalise_names(rows["family_name"], "family_name", rules),
            pl.col("birth_year").cast(pl.Int32), pl.col("birth_month").cast(pl.Int32),
            pl.col("birth_day").cast(pl.Int32), pl.col("sex").cast(pl.String),
            pl.col("nationality").cast(pl.String),
            *(normalise_documents(rows[f"doc_{t}"]).alias(t) for t in DOC_TYPES)))
    if not frames:
        return pl.DataFrame(schema={"record_id": pl.String})
    return pl.concat(frames)


def collapse(records: pl.DataFrame, name: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Distinct identity tuples of one source (like linkage.load), and each record's one:
    (identities with CLEAR_COLUMNS, records(source, record_id, identity_id))."""
    keyed = records.with_columns(
        (pl.lit(f"{name}:") + pl.struct(IDENTITY_FIELDS).hash(seed=0).cast(pl.String))
        .alias("unique_id"))
    identities = (keyed.group_by(IDENTITY_FIELDS, maintain_order=True)
                  .agg(pl.col("unique_id").first(), pl.len().cast(pl.Int64).alias("n_records")))
    iso = pl.format("{}-{}-{}", pl.col("birth_year").cast(pl.String).str.zfill(4),
                    pl.col("birth_month").cast(pl.String).str.zfill(2),
                    pl.col("birth_day").cast(pl.String).str.zfill(2))
    identities = identities.with_columns(
        pl.lit(name).alias("source_dataset"),
        # a full date only when day and month are known (a year-only date stays a year)
        pl.when(pl.col("birth_day").is_not_null()).then(iso).alias("birth_date"),
    ).select(CLEAR_COLUMNS)
    links = keyed.select(pl.lit(name).alias("source"), "record_id",
                         pl.col("unique_id").alias("identity_id"))
    return identities, links


def prepare_cleartext(config: JobConfig, out: Path) -> dict[str, int]:
    """Write out/identities.parquet (the splink input) and out/records.parquet (record ->
    identity) for every source of the config; return counts."""
    out.mkdir(parents=True, exist_ok=True)
    identities, links = [], []
    for name in config.sources:
        ident, link = collapse(cleartext_records(config, name), name)
        identities.append(ident)
        links.append(link)
    table, records = pl.concat(identities), pl.concat(links)
    if table["unique_id"].n_unique() != table.height:
        raise RuntimeError("two distinct identities hashed to one id")
    table.write_parquet(out / "identities.parquet")
    records.write_parquet(out / "records.parquet")
    return {"records": records.height, "identities": table.height}


# --- The model -------------------------------------------------------------------------------


def birth_date_comparison() -> cl.CustomComparison:
    """Birth date by precision; a year-only date (no day or month) compares on its year."""
    year, month = cll.ExactMatchLevel("birth_year"), cll.ExactMatchLevel("birth_month")
    return cl.CustomComparison(
        output_column_name="birth_date",
        comparison_description="birth date: full, one edit, transposed, year-month, year",
        comparison_levels=[
            cll.NullLevel("birth_year"),
            cll.ExactMatchLevel("birth_date").configure(label_for_charts="full date"),
            cll.DamerauLevenshteinLevel("birth_date", 1).configure(
                label_for_charts="full date, one edit"),
            cll.CustomLevel("birth_year_l = birth_year_r AND birth_month_l = birth_day_r "
                            "AND birth_day_l = birth_month_r",
                            label_for_charts="day and month transposed"),
            cll.And(year, month).configure(label_for_charts="year and month"),
            cll.CustomLevel("birth_year_l = birth_year_r AND (birth_date_l IS NULL OR "
                            "birth_date_r IS NULL)",
                            label_for_charts="year, one side year only"),
            cll.ExactMatchLevel("birth_year").configure(label_for_charts="year"),
            cll.CustomLevel("abs(birth_year_l - birth_year_r) <= 1",
                            label_for_charts="year within 1"),
            cll.ElseLevel(),
        ])


def name_comparison(column: str, other: str) -> cl.CustomComparison:
    """splink's NameComparison (exact match with term-frequency adjustment, Jaro-Winkler
    0.92, 0.88, 0.70), with a level for names swapped between the two fields (3 % of the
    synthetic identities are registered so; ForenameSurnameComparison has such a level too)."""
    return cl.CustomComparison(
        output_column_name=column,
        comparison_description=f"{column}: NameComparison levels and a swapped-names level",
        comparison_levels=[
            cll.NullLevel(column),
            cll.ExactMatchLevel(column).configure(tf_adjustment_column=column),
            cll.JaroWinklerLevel(column, 0.92),
            cll.JaroWinklerLevel(column, 0.88),
            cll.CustomLevel(f"jaro_winkler_similarity({column}_l, {other}_r) >= 0.88",
                            label_for_charts=f"swapped: {column} like the other's {other}"),
            cll.JaroWinklerLevel(column, 0.70),
            cll.ElseLevel(),
        ])


def splink_settings() -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        blocking_rules_to_generate_predictions=[
            *DOCUMENT_RULES,
            block_on("birth_date", "substr(given_name, 1, 2)"),
            block_on("birth_date", "substr(family_name, 1, 2)"),
            block_on("given_name", "family_name"),
            "l.given_name = r.family_name AND l.family_name = r.given_name",
        ],
        comparisons=[
            name_comparison("given_name", "family_name"),
            name_comparison("family_name", "given_name"),
            birth_date_comparison(),
            cl.ExactMatch("sex"),
            cl.ExactMatch("nationality"),
            *(cl.ExactMatch(t) for t in DOC_TYPES),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=["source_dataset"],
        max_iterations=20,
    )


EM_PASSES = [block_on("birth_date"), block_on("national_id"), block_on("passport")]


def train(linker: Linker) -> None:
    linker.training.estimate_probability_two_random_records_match(
        DOCUMENT_RULES, recall=DETERMINISTIC_RECALL)
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=U_SEED)
    for rule in EM_PASSES:
        linker.training.estimate_parameters_using_expectation_maximisation(rule)


def link_cleartext(con: duckdb.DuckDBPyConnection, identities: Path
                   ) -> tuple[Linker, SplinkDataFrame, SplinkDataFrame, dict[str, float]]:
    """Load the distinct identities into DuckDB, train, predict (pairs >= PREDICT_FLOOR) and
    cluster at DEFAULT_THRESHOLD; (linker, predictions, clusters, seconds per step)."""
    logging.getLogger("splink").setLevel(logging.ERROR)  # untrained-level notes: expected
    laps = Laps()
    lap, seconds = laps.lap, laps.seconds

    con.execute(f"CREATE OR REPLACE TABLE identities AS SELECT * FROM "
                f"read_parquet('{identities}')")
    linker = Linker(DuckDBAPI(connection=con).register("identities"), splink_settings(),
                    log_level=logging.ERROR)
    lap("load")
    train(linker)
    lap("train")
    predictions = linker.inference.predict(threshold_match_probability=PREDICT_FLOOR)
    lap("predict")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=DEFAULT_THRESHOLD)
    lap("cluster")
    return linker, predictions, clusters, seconds
