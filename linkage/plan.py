"""How many comparisons the blocking passes will make, counted before anything is scored.

A pair of identities (l.unique_id < r.unique_id) is compared when it agrees on at least one
pass; splink scores it once, under the first pass that produces it. For each pass the plan
gives the pairs agreeing on it, the new ones (agreeing on no earlier pass), and the running
total.

Every pass of the shipped rules is the equality of one column, so the counts come from
GROUP BYs, never from a join: a value held by n identities makes n(n-1)/2 pairs, and the new
pairs of pass k follow by inclusion-exclusion over the earlier passes' columns (pairs equal on
c_k, minus those also equal on c_j, plus those equal on c_j and c_i, ...). A group that makes
no pair cannot make one with more columns, so most terms are never computed. A pass of any
other shape is counted by splink itself (it builds the pairs: exact, and slower).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from linkage.rules import Encodings, LinkageRules, expand
from migralink.errors import LinkageError

_EQUALITY = re.compile(r"^\s*\(?\s*l\.(\w+)\s*=\s*r\.(\w+)\s*\)?\s*$")


@dataclass(frozen=True)
class PassCount:
    name: str
    comparisons: int  # pairs agreeing on this pass
    new: int          # of those, pairs agreeing on no earlier pass (what splink adds)
    cumulative: int   # new pairs of this pass and the earlier ones


@dataclass(frozen=True)
class Plan:
    identities: int
    passes: list[PassCount]
    method: str  # "group_by" (equality passes) or "splink" (its own pair counting)
    max_comparisons: float
    left_out: list[str] = field(default_factory=list)  # passes on columns the extracts lack

    @property
    def total(self) -> int:
        return self.passes[-1].cumulative if self.passes else 0

    @property
    def largest(self) -> PassCount:
        """The pass adding the most comparisons: the one to tighten first."""
        return max(self.passes, key=lambda p: p.new)

    def record(self) -> dict:
        """What run.json keeps of the plan (counts only)."""
        return {"identities": self.identities, "method": self.method,
                "total": self.total, "max_comparisons": self.max_comparisons,
                "left_out": self.left_out,
                "passes": [{"pass": p.name, "comparisons": p.comparisons, "new": p.new,
                            "cumulative": p.cumulative} for p in self.passes]}

    def table(self) -> list[str]:
        """The plan as lines for the terminal."""
        width = max(len("pass"), *(len(p.name) for p in self.passes))
        lines = [f"{'pass':<{width}}  {'comparisons':>15}  {'new':>15}  {'cumulative':>15}"]
        lines += [f"{p.name:<{width}}  {p.comparisons:>15,}  {p.new:>15,}  {p.cumulative:>15,}"
                  for p in self.passes]
        lines.append(f"{'total':<{width}}  {'':>15}  {self.total:>15,}  {'':>15}")
        if self.left_out:
            lines.append(f"left out (columns the extracts lack): {', '.join(self.left_out)}")
        lines.append(f"{self.identities:,} identities; budget {self.max_comparisons:,.0f} "
                     f"comparisons ({self.total / self.max_comparisons:.1%} used)")
        return lines

    def check(self, force: bool = False) -> None:
        """LinkageError when the plan is over budget, naming the pass to tighten."""
        if self.total <= self.max_comparisons or force:
            return
        worst = self.largest
        raise LinkageError(
            f"the blocking passes make {self.total:,} comparisons, over the budget of "
            f"{self.max_comparisons:,.0f}: pass '{worst.name}' adds {worst.new:,} of "
            f"{self.total:,} comparisons; tighten it or raise budget.max_comparisons, "
            "or run with --force")


def equality_column(sql: str) -> str | None:
    """The column of a pass `l.c = r.c`, else None."""
    match = _EQUALITY.match(sql)
    return match.group(1) if match and match.group(1) == match.group(2) else None


def _pairs_sql(columns: frozenset[str]) -> str:
    cols = ", ".join(sorted(columns))
    where = " AND ".join(f"{c} IS NOT NULL" for c in sorted(columns))
    return (f"SELECT coalesce(sum(m * (m - 1) // 2), 0) FROM (SELECT sum(n) AS m "
            f"FROM _plan_keys WHERE {where} GROUP BY {cols})")


class _GroupCounts:
    """Pairs equal on a set of columns, from one GROUP BY each over the distinct key tuples."""

    def __init__(self, con: duckdb.DuckDBPyConnection, columns: list[str], table: str) -> None:
        self.con = con
        distinct = list(dict.fromkeys(columns)) or ["NULL AS _none"]
        con.execute(f"CREATE OR REPLACE TEMP TABLE _plan_keys AS SELECT {', '.join(distinct)}, "
                    f"count(*) AS n FROM {table} GROUP BY ALL")
        self.memo: dict[frozenset[str], int] = {}

    def pairs(self, cols: frozenset[str]) -> int:
        if cols not in self.memo:
            self.memo[cols] = int(self.con.execute(_pairs_sql(cols)).fetchall()[0][0])
        return self.memo[cols]

    def new(self, column: str, earlier: list[str]) -> int:
        """Pairs equal on `column` and on none of `earlier`, by inclusion-exclusion."""

        def alternating(base: frozenset[str], rest: list[str], sign: int) -> int:
            # sum over non-empty subsets T of `rest` of sign * (-1)^|T| * pairs(base | T)
            total = 0
            for i, other in enumerate(rest):
                cols = base | {other}
                if self.pairs(cols) == 0:  # no pair is equal on these, nor on more columns
                    continue
                total += -sign * self.pairs(cols) + alternating(cols, rest[i + 1:], -sign)
            return total

        own = self.pairs(frozenset({column}))
        return own + alternating(frozenset({column}), earlier, 1) if own else 0


def _exploded_input(table: str, columns: list[str]) -> str:
    unnested = ", ".join(f"unnest({c}) AS {c}" for c in columns)
    return f"(SELECT * REPLACE ({unnested}) FROM {table})"


def count_passes(con: duckdb.DuckDBPyConnection, sqls: list[str], explode: list[list[str]],
                 table: str = "identities") -> list[tuple[int, int]] | None:
    """(pairs agreeing on the pass, of which agreeing on no earlier pass) for each pass, when
    every pass that explodes no list is `l.c = r.c`; None otherwise.

    Equality passes are counted by GROUP BY. A pass on list columns (splink's
    arrays_to_explode) pairs identities sharing an element: its pairs are built (distinct)
    and each is given the first pass it agrees on, which also corrects the new pairs of a
    later equality pass for those an exploded pass made first."""
    columns = [None if lists else equality_column(sql) for sql, lists in zip(sqls, explode,
                                                                            strict=True)]
    if any(c is None and not lists for c, lists in zip(columns, explode, strict=True)):
        return None
    scalar = [(k, c) for k, c in enumerate(columns) if c is not None]
    groups = _GroupCounts(con, [c for _, c in scalar], table)
    exploded = [k for k, lists in enumerate(explode) if lists]
    try:
        first_scalar = {}  # pairs made by exploded passes: first pass, first equality pass
        if exploded:
            selects = [
                f"SELECT DISTINCT {k} AS pass, l.unique_id AS id_l, r.unique_id AS id_r "
                f"FROM {_exploded_input(table, explode[k])} AS l "
                f"JOIN {_exploded_input(table, explode[k])} AS r "
                f"ON ({sqls[k]}) AND l.unique_id < r.unique_id" for k in exploded]
            cases = " ".join(f"WHEN coalesce({sqls[k]}, false) THEN {k}" for k, _ in scalar)
            first = f"CASE {cases} END" if cases else "NULL"
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE _plan_exploded AS
                WITH pairs AS ({' UNION ALL '.join(selects)})
                SELECT p.id_l, p.id_r, list(p.pass) AS passes, min(p.pass) AS first_exploded,
                       any_value({first}) AS first_scalar
                FROM pairs p JOIN {table} l ON l.unique_id = p.id_l
                JOIN {table} r ON r.unique_id = p.id_r
                GROUP BY p.id_l, p.id_r
            """)
            first_scalar = dict(con.execute("""
                SELECT first_scalar, count(*) FROM _plan_exploded
                WHERE first_scalar IS NOT NULL AND first_exploded < first_scalar GROUP BY ALL
            """).fetchall())
        counts = []
        for k, column in enumerate(columns):
            if column is not None:
                earlier = [c for j, c in scalar if j < k]
                own = groups.pairs(frozenset({column}))
                counts.append((own, groups.new(column, earlier) - first_scalar.get(k, 0)))
            else:
                own, new = con.execute(
                    "SELECT count(*) FILTER (WHERE list_contains(passes, $k)), count(*) FILTER ("
                    "WHERE first_exploded = $k AND coalesce(first_scalar > $k, true)) "
                    "FROM _plan_exploded", {"k": k}).fetchall()[0]
                counts.append((int(own), int(new)))
        return counts
    finally:
        con.execute("DROP TABLE IF EXISTS _plan_keys")
        con.execute("DROP TABLE IF EXISTS _plan_exploded")


def count_with_splink(con: duckdb.DuckDBPyConnection, sqls: list[str], explode: list[list[str]],
                      table: str = "identities") -> list[tuple[int, int]]:
    """The same counts from splink, which builds the blocked pairs (exact, no sampling)."""
    from splink import DuckDBAPI
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    frame = DuckDBAPI(connection=con).register(table)
    rules = [{"blocking_rule": sql, "sql_dialect": "duckdb",
              **({"arrays_to_explode": lists} if lists else {})}
             for sql, lists in zip(sqls, explode, strict=True)]

    def count(of: list[dict]) -> list[int]:
        return [int(r["marginal_comparison_count"]) for r in count_comparisons_from_blocking_rules(
            frame, blocking_rules=of, link_type="dedupe_only", unique_id_column_name="unique_id",
            record_sample_proportion=1.0)]

    return [(count([rule])[0], new) for rule, new in zip(rules, count(rules), strict=True)]


def plan(con: duckdb.DuckDBPyConnection, rules: LinkageRules, encodings: Encodings,
         table: str = "identities", method: str = "auto") -> Plan:
    """Count each blocking pass's comparisons on `table` (the job's distinct identities).
    method: "auto" (GROUP BY where every pass allows it, else splink) or "splink"."""
    used_passes, left_out = [], []
    for p in rules.blocking:  # as the model does: a pass on a column the extracts lack is out
        (left_out if encodings.lacks(expand(p.sql, encodings)) else used_passes).append(p)
    names = [p.name for p in used_passes]
    sqls = [expand(p.sql, encodings) for p in used_passes]
    explode = [list(p.explode) for p in used_passes]
    counts = count_passes(con, sqls, explode, table) if method == "auto" else None
    used = "group_by"
    if counts is None:
        counts, used = count_with_splink(con, sqls, explode, table), "splink"
    passes, cumulative = [], 0
    for name, (own, new) in zip(names, counts, strict=True):
        cumulative += new
        passes.append(PassCount(name, own, new, cumulative))
    identities = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return Plan(identities, passes, used, rules.budget.max_comparisons,
                [p.name for p in left_out])
