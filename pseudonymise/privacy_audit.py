"""`migralink audit DIR`: what a privacy officer signs off, checked from the files alone.

DIR is a job directory as `pseudonymise` and `link` leave it (encoded/, outputs.duckdb,
outputs/, model/, logs/). The audit reads manifests, encoded extracts and hub outputs, never
a raw extract or a key, and writes findings first, then figures (`audit_report.py`):

- manifests: each encoded file matches its manifest's SHA-256 and key id, counts reconcile,
  one key id across sources, the encoding spec and name rules are the ones shipped in rules/;
- leak scan of every hub-side file (`audit.scan_patterns`);
- encoding health of each Bloom-filter field (popcount, per-bit frequency);
- the frequency attack figures each producer measured (manifest `frequency_attack`);
- k-anonymity of the coded attributes kept per record;
- the job log's hash chain.

High-severity findings (a leak, a hash mismatch, mixed key ids, a broken log) make the exit
status non-zero.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, ConfigDict

from migralink.config import RULES_DIR
from pseudonymise.normalise import folder_sha256
from pseudonymise.spec import file_sha256

HIGH, WARNING = "high", "warning"


@dataclass(frozen=True)
class AuditFinding:
    severity: str  # high | warning
    check: str     # manifest | leak | encoding | attack | disclosure | log
    where: str     # file, and table, column and row where they apply
    what: str      # never a value from the data


@dataclass
class Audit:
    directory: Path
    findings: list[AuditFinding] = field(default_factory=list)
    figures: dict = field(default_factory=dict)

    @property
    def high(self) -> list[AuditFinding]:
        return [f for f in self.findings if f.severity == HIGH]

    def add(self, severity: str, check: str, where: Path | str, what: str) -> None:
        self.findings.append(AuditFinding(severity, check, self.relative(where), what))

    def relative(self, path: Path | str) -> str:
        try:
            return str(Path(path).relative_to(self.directory))
        except ValueError:
            return str(path)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DisclosureRules(_Strict):
    k: int
    attributes: list[str]


class HealthRules(_Strict):
    nearly_empty: float
    nearly_full: float
    common_bit: float


class AttackRules(_Strict):
    target: float


class AuditRules(_Strict):
    version: int
    disclosure: DisclosureRules
    encoding_health: HealthRules
    attack: AttackRules

    @classmethod
    def load(cls, path: Path = RULES_DIR / "audit" / "checks.yaml") -> AuditRules:
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


# --- Manifests -------------------------------------------------------------------------------


def manifest_files(directory: Path) -> list[Path]:
    return sorted((directory / "encoded").glob("*.manifest.json"))


def _parquet_key_id(path: Path) -> str | None:
    value = (pq.read_schema(path).metadata or {}).get(b"migralink.key_id")
    return value.decode() if value else None


def check_manifest(audit: Audit, path: Path, shipped: dict[str, str]) -> dict | None:
    """One manifest against its encoded file and the shipped rules; its figures, or None."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        source, key_id, output = manifest["source"], manifest["key_id"], manifest["output"]
        counts = manifest["counts"]
    except (ValueError, KeyError, TypeError):
        audit.add(HIGH, "manifest", path, "not a readable migralink manifest")
        return None
    encoded = path.parent / output["file"]
    row = {"source": source, "key_id": key_id, **{k: counts.get(k) for k in
                                                  ("rows_in", "encoded", "rejected")}}
    if not encoded.is_file():
        audit.add(HIGH, "manifest", encoded, "encoded file named by the manifest is missing")
        return row
    if file_sha256(encoded) != output["sha256"]:
        audit.add(HIGH, "manifest", encoded, f"SHA-256 differs from {path.name}: the file "
                  "was altered or replaced after encoding")
    if _parquet_key_id(encoded) != key_id:
        audit.add(HIGH, "manifest", encoded, f"embedded key id {_parquet_key_id(encoded)} "
                  f"differs from the manifest's {key_id}")
    if counts.get("rows_in") != counts.get("encoded", 0) + counts.get("rejected", 0):
        audit.add(HIGH, "manifest", path, "counts do not reconcile: rows in != encoded + "
                  "rejected")
    if pq.read_metadata(encoded).num_rows != counts.get("encoded"):
        audit.add(HIGH, "manifest", encoded, "row count differs from the manifest's encoded")
    if manifest.get("encoding", {}).get("spec_sha256") != shipped["encoding"]:
        audit.add(HIGH, "manifest", path, "encoded with another encoding spec than "
                  "rules/encoding.yaml")
    if manifest.get("name_rules_sha256") != shipped["names"]:
        audit.add(HIGH, "manifest", path, "normalised with other name rules than rules/names")
    return row


def check_manifests(audit: Audit, rules_dir: Path = RULES_DIR) -> list[dict]:
    files = manifest_files(audit.directory)
    if not files:
        audit.add(HIGH, "manifest", audit.directory / "encoded", "no manifest found")
        return []
    shipped = {"encoding": file_sha256(rules_dir / "encoding.yaml"),
               "names": folder_sha256(rules_dir / "names")}
    rows = [r for r in (check_manifest(audit, f, shipped) for f in files) if r]
    key_ids = sorted({r["key_id"] for r in rows})
    if len(key_ids) > 1:
        named = ", ".join(f"{r['source']} {r['key_id']}" for r in rows)
        audit.add(HIGH, "manifest", audit.directory / "encoded",
                  f"sources encoded with different key ids ({named}): they cannot be linked")
    return rows


# --- Encoding health -------------------------------------------------------------------------


def bloom_fields(columns: list[str]) -> dict[str, list[str]]:
    """Filter field -> its word columns, from `bf_<field>_w<i>` names."""
    fields: dict[str, list[str]] = {}
    for column in columns:
        if column.startswith("bf_") and "_w" in column:
            name, _, index = column[3:].rpartition("_w")
            if index.isdigit():
                fields.setdefault(name, []).append(column)
    return {f: sorted(c, key=lambda x: int(x.rpartition("_w")[2])) for f, c in fields.items()}


def filter_health(con: duckdb.DuckDBPyConnection, parquet: Path, words: list[str]) -> dict:
    """Popcount quantiles and per-bit frequencies of one filter field (non-null filters)."""
    relation = f"read_parquet('{parquet}') WHERE {words[0]} IS NOT NULL"
    popcount = " + ".join(f"bit_count({w})" for w in words)
    n, p5, p50, p95 = con.execute(
        f"SELECT count(*), quantile_disc({popcount}, 0.05), median({popcount}), "
        f"quantile_disc({popcount}, 0.95) FROM {relation}").fetchone()
    bits = [f"avg((({w} >> {i}) & 1)::DOUBLE)" for w in words for i in range(64)]
    shares = con.execute(f"SELECT {', '.join(bits)} FROM {relation}").fetchone() if n else []
    shares = [s or 0.0 for s in shares]
    return {"filters": n, "bits": 64 * len(words), "popcount_p05": p5, "popcount_median": p50,
            "popcount_p95": p95, "bits_never_set": sum(s == 0 for s in shares),
            "max_bit_share": round(max(shares, default=0.0), 4)}


def check_encodings(audit: Audit, rules: HealthRules) -> list[dict]:
    rows = []
    con = duckdb.connect()
    try:
        for parquet in sorted((audit.directory / "encoded").glob("*.parquet")):
            for name, words in bloom_fields(pq.read_schema(parquet).names).items():
                health = filter_health(con, parquet, words)
                rows.append({"file": audit.relative(parquet), "field": name, **health})
                if not health["filters"]:
                    continue
                median_share = health["popcount_median"] / health["bits"]
                where = f"{audit.relative(parquet)}, column bf_{name}"
                if median_share < rules.nearly_empty:
                    audit.add(WARNING, "encoding", where, f"filters nearly empty (median "
                              f"{median_share:.0%} of bits set)")
                if median_share > rules.nearly_full:
                    audit.add(WARNING, "encoding", where, f"filters nearly full (median "
                              f"{median_share:.0%} of bits set)")
                if health["max_bit_share"] > rules.common_bit:
                    audit.add(WARNING, "encoding", where, "a bit is set in "
                              f"{health['max_bit_share']:.0%} of filters")
    finally:
        con.close()
    return rows


# --- Attack figures --------------------------------------------------------------------------


def attack_figures(audit: Audit, rules: AttackRules) -> list[dict]:
    """The producers' frequency-attack figures, one row per source and name field."""
    rows = []
    for path in manifest_files(audit.directory):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue  # reported by check_manifests
        for name_field, attacks in (manifest.get("frequency_attack") or {}).items():
            row = {"source": manifest.get("source"), "field": name_field}
            for attack, parts in attacks.items():
                for part, share in parts.items():
                    row[f"{attack}.{part}"] = share
            rows.append(row)
            worst = max((s for k, s in row.items() if k.startswith("filter_as_configured.")
                         and s is not None), default=None)
            if worst is not None and worst > rules.target:
                audit.add(WARNING, "attack", path, f"{name_field}: a frequency attack recovers "
                          f"the name of {worst:.1%} of records (target: at most "
                          f"{rules.target:.0%})")
        if not manifest.get("frequency_attack"):
            audit.add(WARNING, "attack", path, "no frequency-attack figures in the manifest")
    return rows


# --- Disclosure ------------------------------------------------------------------------------


def disclosure(audit: Audit, rules: DisclosureRules) -> list[dict]:
    """k-anonymity of the coded attributes per encoded extract and in the persons table."""
    tables = [(audit.relative(p), f"read_parquet('{p}')")
              for p in sorted((audit.directory / "encoded").glob("*.parquet"))]
    persons = audit.directory / "outputs" / "persons.parquet"
    if persons.is_file():
        tables.append((audit.relative(persons), f"read_parquet('{persons}')"))
    rows = []
    con = duckdb.connect()
    try:
        for name, relation in tables:
            present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
            keys = [a for a in rules.attributes if a in present]
            if not keys:
                continue
            group = ", ".join(f'"{k}"' for k in keys)
            smallest, classes, under, records = con.execute(
                f"SELECT min(n), count(*), sum(n) FILTER (WHERE n < {rules.k}), sum(n) "
                f"FROM (SELECT count(*) AS n FROM {relation} GROUP BY {group})").fetchone()
            rows.append({"table": name, "attributes": keys, "classes": classes,
                         "smallest_class": smallest, "records": records,
                         f"records_in_classes_under_{rules.k}": under or 0})
    finally:
        con.close()
    return rows


# --- The whole audit -------------------------------------------------------------------------


def check_leaks(audit: Audit) -> int:
    """Scan every hub-side file for identity-shaped values; returns the files scanned."""
    from pseudonymise.audit import hub_side_files, scan_patterns

    files = [f for f in hub_side_files(audit.directory) if "audit" not in f.parts]
    for finding in scan_patterns(files):
        audit.add(HIGH, "leak", finding.where(audit.directory), finding.what)
    return len(files)


def check_log(audit: Audit, log_file: Path) -> dict:
    from pseudonymise.joblog import verify_log

    if not log_file.is_file():
        audit.add(WARNING, "log", log_file, "no job log: runs cannot be traced")
        return {"file": audit.relative(log_file), "entries": 0, "ok": None}
    check = verify_log(log_file)
    if not check.ok:
        audit.add(HIGH, "log", f"{audit.relative(log_file)}, entry {check.first_broken}",
                  f"hash chain broken: {check.reason}")
    return {"file": audit.relative(log_file), "entries": check.entries, "ok": check.ok}


def run_audit(directory: Path, log_file: Path | None = None,
              rules: AuditRules | None = None) -> Audit:
    """Every check on a job directory; findings and figures (nothing written)."""
    rules = rules or AuditRules.load()
    audit = Audit(directory)
    audit.figures["sources"] = check_manifests(audit)
    audit.figures["files_scanned"] = check_leaks(audit)
    audit.figures["encoding_health"] = check_encodings(audit, rules.encoding_health)
    audit.figures["attack"] = attack_figures(audit, rules.attack)
    audit.figures["attack_target"] = rules.attack.target
    audit.figures["disclosure"] = disclosure(audit, rules.disclosure)
    audit.figures["k"] = rules.disclosure.k
    audit.figures["log"] = check_log(audit, log_file or directory / "logs" / "job-log.jsonl")
    return audit
