"""Clusters of identities -> persons, each with a random person_id.

A person_id is drawn at random for each cluster: it is not derived from any identifier or
token, so it cannot be traced back to one.
"""

from __future__ import annotations

import duckdb
from splink.internals.splink_dataframe import SplinkDataFrame

from linkage.model import TrainedModel


def cluster(con: duckdb.DuckDBPyConnection, model: TrainedModel,
            predictions: SplinkDataFrame) -> None:
    """Create identity_person(identity_id, person_id) from links at the rules' threshold."""
    threshold = model.rules.threshold.match_probability
    clusters = model.linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    )
    con.execute(f"""
        CREATE OR REPLACE TABLE identity_person AS
        WITH ids AS (
            SELECT DISTINCT cluster_id FROM {clusters.physical_name}
        ), persons AS (
            SELECT cluster_id, 'P' || replace(CAST(uuid() AS VARCHAR), '-', '')[:15] AS person_id
            FROM ids
        )
        SELECT c.unique_id AS identity_id, p.person_id
        FROM {clusters.physical_name} c JOIN persons p USING (cluster_id)
    """)
    con.execute("""
        CREATE OR REPLACE TABLE record_links AS
        SELECT r.source, r.record_id, r.identity_id, ip.person_id
        FROM records r JOIN identity_person ip USING (identity_id)
    """)
