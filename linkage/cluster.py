"""Clusters of identities -> persons, each with a random person_id.

First the connected components of the links (pairs at or above the threshold). One wrong
link is enough to chain two persons into one component, so a component is then checked
(the rules' `clustering` section) when it

- holds two different tokens of one document type (two passports, two SSNs), or
- has more than `max_size` identities.

A person can really hold two passports (a renewal) or two SSNs, so different documents are
allowed in one person when two identities carrying them are linked to each other directly at
`direct_link` or above; the documents are then taken to be the same person's, and so are two
numbers one keying error apart (they share a `tok_<type>_near` token). Not so for a type a
renewal replaces (`replaced`): two such numbers that one source recorded, each on records
spanning more than `overlap_days` and together for longer, are two persons' cards however
strong the link (a renewal follows the old card; a keyed typo sits on a record or two).
A checked component is
rebuilt from its own links, strongest first (Kruskal's order), skipping a link that would put
two documents of one type that are not so vouched for into one person: what a chain of weak
links joined is cut at its weakest link. An oversized component is rebuilt from its links at
the first of `split_thresholds` that leaves no part above `max_size`.

A person_id is drawn at random for each cluster: it is not derived from any identifier or
token, so it cannot be traced back to one (linkage/person_ids.py keeps it across runs).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import duckdb
from splink.internals.splink_dataframe import SplinkDataFrame

from linkage.model import TrainedModel
from linkage.rules import Clustering

Node = str
Edge = tuple[Node, Node, float]
Documents = dict[str, object]  # document type -> token (None when missing)
Period = tuple[int, int]       # first and last day (ordinal) of records
SourcePeriod = tuple[str, int, int]  # an identity's source, first and last day of its records


@dataclass
class ClusterReport:
    """What clustering did, as counts (for run.json)."""

    components: int = 0        # connected components of the links at the threshold
    checked: int = 0           # of those, with two tokens of one document type, or oversized
    split: int = 0             # checked components that became two persons or more
    persons: int = 0           # persons after splitting
    links_cut: int = 0         # links at the threshold not followed
    reasons: dict[str, int] = field(default_factory=lambda: {
        "document_conflict": 0, "oversized": 0})
    documents_vouched: int = 0  # checked, kept whole: their different documents are vouched

    def record(self) -> dict:
        return {"components": self.components, "checked": self.checked, "split": self.split,
                "persons": self.persons, "links_cut": self.links_cut,
                "reasons": dict(self.reasons), "documents_vouched": self.documents_vouched}


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, x: object) -> object:
        parent = self.parent
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: object, b: object) -> object:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            ra, rb = sorted((ra, rb), key=repr)
            self.parent[rb] = ra
        return ra


@dataclass
class Split:
    parts: list[list[Node]]  # each sorted; the parts sorted by their first node
    reason: str | None       # "document_conflict", "oversized" or None (kept whole)
    links_cut: int
    vouched: bool            # different documents of one type held together, vouched for


def _used(nodes: dict[Node, Documents], periods: dict[Node, SourcePeriod]
          ) -> dict[tuple[str, object], dict[str, Period]]:
    """The first and last day each (type, token) appears on the records of each source."""
    used: dict[tuple[str, object], dict[str, Period]] = defaultdict(dict)
    for node, documents in nodes.items():
        if node not in periods:
            continue
        source, first, last = periods[node]
        for kind, token in documents.items():
            if token is not None:
                a, b = used[(kind, token)].get(source, (first, last))
                used[(kind, token)][source] = (min(a, first), max(b, last))
    return used


def _concurrent(a: dict[str, Period], b: dict[str, Period], days: int) -> bool:
    """Whether one source recorded two documents, each for more than `days`, together for
    longer: the same office saw both cards in use."""
    for source in a.keys() & b.keys():
        (a0, a1), (b0, b1) = a[source], b[source]
        if a1 - a0 > days and b1 - b0 > days and min(a1, b1) - max(a0, b0) > days:
            return True
    return False


def _vouched_documents(nodes: dict[Node, Documents], edges: list[Edge], rules: Clustering,
                       near: dict[Node, dict[str, list]],
                       periods: dict[Node, SourcePeriod] | None = None) -> _UnionFind:
    """Tokens of one type that may sit in one person: linked directly at >= direct_link
    (never two tokens of a `replaced` type in use together), or one keying error apart
    (sharing a near token). Elements are (type, token)."""
    same = _UnionFind()
    used = _used(nodes, periods or {})
    for a, b, p in edges:
        if p < rules.direct_link:
            continue
        for kind, token in nodes[a].items():
            other = nodes[b].get(kind)
            if token is None or other is None or token == other:
                continue
            if kind in rules.replaced and _concurrent(used.get((kind, token), {}),
                                                      used.get((kind, other), {}),
                                                      rules.overlap_days):
                continue
            same.union((kind, token), (kind, other))
    by_near: dict[tuple[str, object], tuple[str, object]] = {}
    for node, lists in near.items():
        for kind, tokens in lists.items():
            token = nodes[node].get(kind)
            if token is None:
                continue
            for t in tokens or ():
                seen = by_near.setdefault((kind, t), (kind, token))
                if seen != (kind, token):
                    same.union(seen, (kind, token))
    return same


def _components(nodes: list[Node], edges: list[Edge], documents: dict[Node, Documents],
                same: _UnionFind) -> tuple[list[list[Node]], int, bool]:
    """Kruskal over `edges` (strongest first), skipping a link that would join two different
    documents of one type that `same` does not vouch for. Returns the parts, the links
    skipped for documents, and whether a part holds vouched-for different documents."""
    parts = _UnionFind()
    held: dict[object, dict[str, object]] = {}  # part root -> type -> vouched document root
    for node in nodes:
        held[parts.find(node)] = {k: same.find((k, t)) for k, t in documents[node].items()
                                  if t is not None}
    skipped = 0
    for a, b, _ in sorted(edges, key=lambda e: (-e[2], e[0], e[1])):
        ra, rb = parts.find(a), parts.find(b)
        if ra == rb:
            continue
        da, db = held[ra], held[rb]
        if any(kind in db and db[kind] != root for kind, root in da.items()):
            skipped += 1
            continue
        root = parts.union(ra, rb)
        held[root] = {**held.pop(ra), **held.pop(rb)}
    groups: dict[object, list[Node]] = defaultdict(list)
    for node in nodes:
        groups[parts.find(node)].append(node)
    result = sorted(sorted(g) for g in groups.values())
    vouched = any(len({documents[n][kind] for n in part if documents[n].get(kind) is not None})
                  > 1 for part in result for kind in {k for n in part for k in documents[n]})
    return result, skipped, vouched


def split_cluster(nodes: dict[Node, Documents], edges: list[Edge], rules: Clustering,
                  threshold: float, near: dict[Node, dict[str, list]] | None = None,
                  periods: dict[Node, SourcePeriod] | None = None) -> Split:
    """One connected component (its identities' documents, links and the periods of their
    records) -> its persons."""
    same = _vouched_documents(nodes, edges, rules, near or {}, periods)
    ids = sorted(nodes)
    reason = None
    followed = [e for e in edges if e[2] >= threshold]
    parts, skipped, vouched = _components(ids, followed, nodes, same)
    if skipped:
        reason = "document_conflict"
    for bound in rules.split_thresholds:
        if max(len(p) for p in parts) <= rules.max_size:
            break
        if bound <= threshold:
            continue
        followed = [e for e in edges if e[2] >= bound]
        parts, skipped, vouched = _components(ids, followed, nodes, same)
        reason = "oversized"
    part_of = {node: k for k, part in enumerate(parts) for node in part}
    cut = sum(1 for a, b, p in edges if p >= threshold and part_of[a] != part_of[b])
    return Split(parts, reason if len(parts) > 1 else None, cut, vouched)


EVENT_DATES = {"events_border": "date", "events_permit": "issue_date",
               "events_employment": "month", "events_placement": "start_date"}


def identity_periods(con: duckdb.DuckDBPyConnection) -> dict[Node, SourcePeriod]:
    """Source, first and last event date (day ordinals) of the checked components' identities."""
    views = {row[0] for row in con.execute(
        "SELECT table_name FROM information_schema.tables").fetchall()}
    dates = " UNION ALL ".join(f"SELECT source, record_id, {column} AS day FROM {view}"
                               for view, column in EVENT_DATES.items() if view in views)
    if not dates:
        return {}
    rows = con.execute(f"""
        SELECT r.identity_id, min(r.source), min(e.day), max(e.day)
        FROM records r JOIN ({dates}) e USING (source, record_id)
        WHERE r.identity_id IN (SELECT unique_id FROM _members)
        GROUP BY r.identity_id
    """).fetchall()
    return {node: (source, first.toordinal(), last.toordinal())
            for node, source, first, last in rows if first is not None}


def document_columns(con: duckdb.DuckDBPyConnection, rules: Clustering,
                     table: str = "identities") -> tuple[list[str], list[str]]:
    """The document types checked that the identities carry, and those with near tokens."""
    columns = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    kinds = [k for k in rules.documents if f"tok_{k}" in columns]
    return kinds, [k for k in kinds if f"tok_{k}_near" in columns]


def resolve_clusters(con: duckdb.DuckDBPyConnection, components: str, predictions: str,
                     threshold: float, rules: Clustering) -> tuple[str, ClusterReport]:
    """Check and split the components (table of unique_id, cluster_id); returns the name of a
    table (unique_id, cluster_id) of the final clusters, and the report."""
    kinds, near_kinds = document_columns(con, rules)
    report = ClusterReport()
    report.components = con.execute(
        f"SELECT count(DISTINCT cluster_id) FROM {components}").fetchall()[0][0]
    conflict = " OR ".join(f"count(DISTINCT i.tok_{k}) > 1" for k in kinds) or "false"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _checked AS
        SELECT c.cluster_id, count(*) AS n, {conflict} AS conflict
        FROM {components} c JOIN identities i USING (unique_id)
        GROUP BY c.cluster_id HAVING n > {rules.max_size} OR {conflict}
    """)
    report.checked = con.execute("SELECT count(*) FROM _checked").fetchall()[0][0]
    docs = "".join(f", i.tok_{k}" for k in kinds) + "".join(f", i.tok_{k}_near"
                                                              for k in near_kinds)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _members AS
        SELECT c.cluster_id, c.unique_id{docs}
        FROM {components} c JOIN _checked USING (cluster_id) JOIN identities i USING (unique_id)
    """)
    members = con.execute("SELECT * FROM _members").fetchall()
    links = con.execute(f"""
        SELECT a.cluster_id, p.unique_id_l, p.unique_id_r, p.match_probability
        FROM {predictions} p
        JOIN {components} a ON a.unique_id = p.unique_id_l
        JOIN {components} b ON b.unique_id = p.unique_id_r AND b.cluster_id = a.cluster_id
        WHERE a.cluster_id IN (SELECT cluster_id FROM _checked)
          AND p.match_probability >= ?
    """, [threshold]).fetchall()
    nodes: dict[str, dict[Node, Documents]] = defaultdict(dict)
    near: dict[str, dict[Node, dict[str, list]]] = defaultdict(dict)
    for row in members:
        cluster_id, node, values = row[0], row[1], row[2:]
        nodes[cluster_id][node] = dict(zip(kinds, values[:len(kinds)], strict=True))
        near[cluster_id][node] = dict(zip(near_kinds, values[len(kinds):], strict=True))
    edges: dict[str, list[Edge]] = defaultdict(list)
    for cluster_id, a, b, p in links:
        edges[cluster_id].append((a, b, float(p)))
    periods = identity_periods(con) if rules.replaced else {}
    relabel = []
    for cluster_id in sorted(nodes):
        result = split_cluster(nodes[cluster_id], edges[cluster_id], rules, threshold,
                               near[cluster_id], periods)
        if result.vouched and result.reason is None:
            report.documents_vouched += 1
        if len(result.parts) > 1:
            report.split += 1
            report.links_cut += result.links_cut
            report.reasons[result.reason or "document_conflict"] += 1
            relabel += [(node, f"{cluster_id}#{k}") for k, part in enumerate(result.parts)
                        for node in part]
    con.execute("CREATE OR REPLACE TEMP TABLE _relabel (unique_id VARCHAR, cluster_id VARCHAR)")
    if relabel:
        con.executemany("INSERT INTO _relabel VALUES (?, ?)", relabel)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _clusters AS
        SELECT c.unique_id, coalesce(r.cluster_id, c.cluster_id) AS cluster_id
        FROM {components} c LEFT JOIN _relabel r USING (unique_id)
    """)
    con.execute("DROP TABLE _relabel")
    con.execute("DROP TABLE _checked")
    con.execute("DROP TABLE _members")
    report.persons = con.execute(
        "SELECT count(DISTINCT cluster_id) FROM _clusters").fetchall()[0][0]
    return "_clusters", report


def connected_components(con: duckdb.DuckDBPyConnection, predictions: str,
                         threshold: float) -> str:
    """Table (unique_id, cluster_id) of every identity, by splink's connected components."""
    from splink import DuckDBAPI
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    clusters = cluster_pairwise_predictions_at_threshold(
        "identities", predictions, DuckDBAPI(connection=con), "unique_id",
        threshold_match_probability=threshold)
    return clusters.physical_name


def cluster(con: duckdb.DuckDBPyConnection, model: TrainedModel,
            predictions: SplinkDataFrame) -> ClusterReport:
    """Persons from the model's scored pairs, at its link threshold, under its rules."""
    return cluster_pairs(con, predictions.physical_name,
                         model.rules.threshold.match_probability, model.rules.clustering)


def cluster_pairs(con: duckdb.DuckDBPyConnection, predictions: str, threshold: float,
                  rules: Clustering) -> ClusterReport:
    """Create identity_person(identity_id, person_id) and record_links from the scored pairs
    (table `predictions`: unique_id_l, unique_id_r, match_probability). person_id is random
    here; linkage.person_ids may give clusters the previous run's ids instead."""
    components = connected_components(con, predictions, threshold)
    clusters, report = resolve_clusters(con, components, predictions, threshold, rules)
    con.execute(f"""
        CREATE OR REPLACE TABLE identity_person AS
        WITH ids AS (
            SELECT DISTINCT cluster_id FROM {clusters}
        ), persons AS (
            SELECT cluster_id, 'P' || replace(CAST(uuid() AS VARCHAR), '-', '')[:15] AS person_id
            FROM ids
        )
        SELECT c.unique_id AS identity_id, p.person_id
        FROM {clusters} c JOIN persons p USING (cluster_id)
    """)
    con.execute(f"DROP TABLE {clusters}")
    link_records(con)
    return report


def link_records(con: duckdb.DuckDBPyConnection) -> None:
    """record_links(source, record_id, identity_id, person_id) from identity_person: a view,
    not a copy of `records` with one column more (37 million rows at a million persons,
    which the hub's memory budget would otherwise spill to disk)."""
    con.execute("""
        CREATE OR REPLACE VIEW record_links AS
        SELECT r.source, r.record_id, r.identity_id, ip.person_id
        FROM records r JOIN identity_person ip USING (identity_id)
    """)
