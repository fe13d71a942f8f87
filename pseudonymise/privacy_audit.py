"""`migralink audit DIR`: what a privacy officer signs off, checked from the files alone.

DIR is a job directory as `pseudonymise` and `link` leave it (encoded/, outputs.duckdb,
linkage.duckdb, outputs/, model/, logs/). The audit reads manifests, encoded extracts and hub
outputs, never a raw extract or a key, and writes findings first, then figures
(`audit_report.py`):

- manifests: each encoded file matches its manifest's SHA-256, key id and row count, counts
  reconcile (reject reasons and notes included), one key id across sources, the encoding
  spec and name rules are the ones shipped in rules/;
- leak scan of every hub-side file (`audit.hub_side_files`, `audit.scan_patterns`);
- encoding health of each Bloom-filter field (popcount, per-bit frequency);
- the frequency attack figures each producer measured (manifest `frequency_attack`);
- k-anonymity of the coded attributes kept per record;
- the job log's hash chain, and every hub-side file it records as written against the
  SHA-256 it logged.

Thresholds are in rules/audit/checks.yaml. High-severity findings (a leak, a manifest that
does not match, mixed key ids, a broken log, a file changed since it was logged) make the
exit status non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

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
    advice: str | None = None  # what to do, when it is not the check's usual advice


@dataclass
class Audit:
    directory: Path
    findings: list[AuditFinding] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    hashes: dict[Path, str] = field(default_factory=dict, repr=False)  # path -> SHA-256

    def sha256(self, path: Path) -> str:
        """The file's SHA-256, hashed once per audit (the manifests and the job log both
        name the encoded files)."""
        if path not in self.hashes:
            self.hashes[path] = file_sha256(path)
        return self.hashes[path]

    @property
    def high(self) -> list[AuditFinding]:
        return [f for f in self.findings if f.severity == HIGH]

    def add(self, severity: str, check: str, where: Path | str, what: str,
            advice: str | None = None) -> None:
        self.findings.append(AuditFinding(severity, check, self.relative(where), what, advice))

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
    not_sent: list[str] = []  # attacks on what the hub does not receive (hardening off)


class AuditRules(_Strict):
    version: int
    disclosure: DisclosureRules
    encoding_health: HealthRules
    attack: AttackRules

    @classmethod
    def load(cls, path: Path = RULES_DIR / "audit" / "checks.yaml") -> AuditRules:
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


# --- Manifests -------------------------------------------------------------------------------


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ManifestOutput(_Read):
    file: str
    sha256: str
    rows: int | None = None


class ManifestCounts(_Read):
    rows_in: int
    encoded: int
    rejected: int
    # rejected rows carrying each reason (a row may carry several), and encoded rows with
    # each note (a value treated as unknown); None in a manifest that has none
    reject_reasons: dict[str, int] | None = None
    encoded_with_notes: dict[str, int] | None = None


class ManifestEncoding(_Read):
    spec_sha256: str | None = None
    spec: dict = {}


class Manifest(_Read):
    """What the audit reads of a manifest (pseudonymise/manifest.py writes it whole)."""

    source: str
    key_id: str
    output: ManifestOutput
    counts: ManifestCounts
    encoding: ManifestEncoding = ManifestEncoding()
    name_rules_sha256: str | None = None
    frequency_attack: dict = {}  # read by `attack_figures`, which checks its form


# name field -> attack -> partition -> share of records recovered (or a dict of context
# figures, such as the share a guess from the public list alone recovers)
AttackShares = TypeAdapter(dict[str, dict[str, dict[str, float | None | dict]]])


def manifest_files(directory: Path) -> list[Path]:
    return sorted((directory / "encoded").glob("*.manifest.json"))


def read_manifest(path: Path) -> Manifest | None:
    """The manifest, or None when it is not a readable migralink manifest."""
    try:
        return Manifest.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None


def _parquet_key_id(path: Path) -> str | None:
    value = (pq.read_schema(path).metadata or {}).get(b"migralink.key_id")
    return value.decode() if value else None


def parquet_readable(path: Path) -> bool:
    try:
        pq.read_metadata(path)
    except (OSError, pa.ArrowException):
        return False
    return True


def check_encoded_file(audit: Audit, encoded: Path, manifest: Manifest, path: Path) -> None:
    """The encoded file is the one the manifest describes: hash, key id, rows."""
    if audit.sha256(encoded) != manifest.output.sha256:
        audit.add(HIGH, "manifest", encoded, f"SHA-256 differs from {path.name}: the file "
                  "was altered or replaced after encoding")
    if not parquet_readable(encoded):
        audit.add(HIGH, "manifest", encoded, "not a readable Parquet file")
        return
    embedded = _parquet_key_id(encoded)
    if embedded != manifest.key_id:
        audit.add(HIGH, "manifest", encoded, f"embedded key id {embedded} differs from the "
                  f"manifest's {manifest.key_id}")
    if pq.read_metadata(encoded).num_rows != manifest.counts.encoded:
        audit.add(HIGH, "manifest", encoded, "row count differs from the manifest's encoded")


def count_problems(manifest: Manifest) -> list[str]:
    """Why the manifest's counts cannot all be true (none: they reconcile). Every row read is
    encoded or rejected; every rejected row carries at least one reason and a reason at most
    every rejected row (a row may carry several, so the reasons may sum to more); a note is
    counted on encoded rows; the output's rows are the encoded ones."""
    counts, problems = manifest.counts, []
    if counts.rows_in != counts.encoded + counts.rejected:
        problems.append("rows in != encoded + rejected")
    reasons = counts.reject_reasons
    if reasons is not None and sum(reasons.values()) < counts.rejected:
        problems.append(f"reject reasons account for {sum(reasons.values()):,} rows, fewer "
                        f"than the {counts.rejected:,} rejected")
    if reasons is not None and any(not 0 < n <= counts.rejected for n in reasons.values()):
        problems.append(f"a reject reason counts more rows than the {counts.rejected:,} "
                        "rejected, or none")
    notes = counts.encoded_with_notes or {}
    if any(not 0 < n <= counts.encoded for n in notes.values()):
        problems.append(f"a note counts more rows than the {counts.encoded:,} encoded, or none")
    if manifest.output.rows is not None and manifest.output.rows != counts.encoded:
        problems.append("the output's rows != encoded")
    return problems


def check_manifest(audit: Audit, path: Path, shipped: dict[str, str]) -> dict | None:
    """One manifest against its encoded file and the shipped rules; its figures, or None."""
    manifest = read_manifest(path)
    if manifest is None:
        audit.add(HIGH, "manifest", path, "not a readable migralink manifest")
        return None
    counts = manifest.counts
    row = {"source": manifest.source, "key_id": manifest.key_id, "rows_in": counts.rows_in,
           "encoded": counts.encoded, "rejected": counts.rejected}
    if path.name != f"{manifest.source}.manifest.json":
        audit.add(HIGH, "manifest", path, f"made for source {manifest.source}")
    for problem in count_problems(manifest):
        audit.add(HIGH, "manifest", path, f"counts do not reconcile: {problem}")
    if manifest.encoding.spec_sha256 != shipped["encoding"]:
        audit.add(HIGH, "manifest", path, "encoded with another encoding spec than "
                  "rules/encoding.yaml")
    if manifest.name_rules_sha256 != shipped["names"]:
        audit.add(HIGH, "manifest", path, "normalised with other name rules than rules/names")
    encoded = path.parent / manifest.output.file
    if encoded.is_file():
        check_encoded_file(audit, encoded, manifest, path)
    else:
        audit.add(HIGH, "manifest", encoded, "encoded file named by the manifest is missing")
    return row


def check_manifests(audit: Audit, rules_dir: Path = RULES_DIR) -> list[dict]:
    files = manifest_files(audit.directory)
    if not files:
        audit.add(HIGH, "manifest", audit.directory / "encoded", "no manifest found")
        return []
    shipped = {"encoding": file_sha256(rules_dir / "encoding.yaml"),
               "names": folder_sha256(rules_dir / "names")}
    rows = [r for r in (check_manifest(audit, f, shipped) for f in files) if r]
    if len({r["key_id"] for r in rows}) > 1:
        named = ", ".join(f"{r['source']} {r['key_id']}" for r in rows)
        audit.add(HIGH, "manifest", audit.directory / "encoded",
                  f"sources encoded with different key ids ({named}): they cannot be linked")
    return rows


def read_parquet(path: Path) -> str:
    """DuckDB SQL reading a Parquet file (the path quoted)."""
    return "read_parquet('" + str(path).replace("'", "''") + "')"


def encoded_files(audit: Audit) -> list[Path]:
    """The encoded extracts that can be read (a damaged one is a manifest finding)."""
    return [p for p in sorted((audit.directory / "encoded").glob("*.parquet"))
            if parquet_readable(p)]


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
    relation = f"{read_parquet(parquet)} WHERE {words[0]} IS NOT NULL"
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


def health_findings(audit: Audit, where: str, health: dict, rules: HealthRules) -> None:
    median_share = health["popcount_median"] / health["bits"]
    if median_share < rules.nearly_empty:
        audit.add(WARNING, "encoding", where, f"filters nearly empty (median "
                  f"{median_share:.0%} of bits set)")
    if median_share > rules.nearly_full:
        audit.add(WARNING, "encoding", where, f"filters nearly full (median "
                  f"{median_share:.0%} of bits set)")
    if health["max_bit_share"] > rules.common_bit:
        audit.add(WARNING, "encoding", where, "a bit is set in "
                  f"{health['max_bit_share']:.0%} of filters")


def check_encodings(audit: Audit, rules: HealthRules) -> list[dict]:
    rows = []
    con = duckdb.connect()
    try:
        for parquet in encoded_files(audit):
            for name, words in bloom_fields(pq.read_schema(parquet).names).items():
                health = filter_health(con, parquet, words)
                rows.append({"file": audit.relative(parquet), "field": name, **health})
                if health["filters"]:
                    health_findings(audit, f"{audit.relative(parquet)}, column bf_{name}",
                                    health, rules)
    finally:
        con.close()
    return rows


# --- Attack figures --------------------------------------------------------------------------


def _flat(parts: dict, prefix: str) -> dict[str, float | None]:
    """{"pooled": 0.2, "counts_alone": {"pooled": 0.01}} -> {"<prefix>.pooled": 0.2,
    "<prefix>.counts_alone.pooled": 0.01}."""
    flat: dict[str, float | None] = {}
    for name, value in parts.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}.{name}")
        elif value is None or isinstance(value, int | float):
            flat[f"{prefix}.{name}"] = value
    return flat


BASELINE = "counts_alone"  # what the attack gets from each identity's record count alone


def baseline_of(parts: dict, part: str) -> float | None:
    """What the attack gets from record counts alone in that partition (its own baseline)."""
    baseline = parts.get(BASELINE)
    value = baseline.get(part) if isinstance(baseline, dict) else None
    return value if isinstance(value, int | float) else None


def _worst_sent(attacks: dict[str, dict], rules: AttackRules
                ) -> tuple[float, float, float | None, str, str] | None:
    """(excess, share, baseline, attack, partition) of the attack on what the hub receives
    that does best beyond its own baseline: the share it recovers minus what ranking the
    identities by their record counts alone recovers (the attacks in `not_sent` left out)."""
    shares = []
    for attack, parts in attacks.items():
        if attack in rules.not_sent:
            continue
        for part, share in parts.items():
            if isinstance(share, int | float):
                base = baseline_of(parts, part)
                shares.append((share - (base or 0.0), share, base, attack, part))
    return max(shares, default=None)


ATTACKS = {  # manifest attack -> heading; other attacks (tok_<name>) are headed by their token
    "filter_as_configured": "name filter as sent",
    "unhardened_filter": "name filter, hardening off",
    "name_key_token": "name-key token",
}
PARTS = {"pooled": "over the whole extract", "within_birth_year": "within birth years"}


def attack_heading(attack: str, tokens: dict[str, list[str]]) -> str:
    """`filter_as_configured` -> `name filter as sent`; `tok_dob_given_key` made of
    [birth_date, given_key] -> `token: birth date + given key`."""
    if attack in ATTACKS:
        return ATTACKS[attack]
    parts = tokens.get(attack)
    if not parts:
        return f"token {attack.removeprefix('tok_')}"
    return "token: " + " + ".join(p.replace("_", " ") for p in parts)


def _over_target(name_field: str, worst: tuple[float, float, float | None, str, str],
                 tokens: dict[str, list[str]]) -> str:
    """`given name of 2.5 % of records within birth years (name filter as sent), where
    record counts alone give 0.9 %`: the numbers the report's table shows in that cell."""
    _, share, base, attack, part = worst
    where = PARTS.get(part, part.replace("_", " "))
    alone = ", with no record-count figure to compare" if base is None else \
        f", where record counts alone give {_pct(base)}"
    return (f"{name_field.replace('_', ' ')} of {_pct(share)} of records {where} "
            f"({attack_heading(attack, tokens)}){alone}")


def _pct(share: float) -> str:
    return f"{100 * share:.1f} %"


NO_FIGURES = ("Ask the producer for a manifest written by the current `migralink "
              "pseudonymise`, which measures the attack while it encodes.")


def token_parts(manifest: Manifest) -> dict[str, list[str]]:
    """Blocking-token column -> the parts it combines, from the manifest's encoding spec
    (`tokens.name_keys.combine`); empty when the spec has none."""
    combine = manifest.encoding.spec.get("tokens", {}).get("name_keys", {}).get("combine", {})
    if not isinstance(combine, dict):
        return {}
    return {f"tok_{name}": [str(p) for p in parts] for name, parts in combine.items()
            if isinstance(parts, list)}


def attack_figures(audit: Audit, rules: AttackRules) -> list[dict]:
    """The producers' frequency-attack figures, one row per source and name field
    (`<attack>.<partition>` -> share); a warning per source above the target."""
    rows = []
    for path in manifest_files(audit.directory):
        manifest = read_manifest(path)
        if manifest is None:
            continue  # reported by check_manifests
        try:
            figures = AttackShares.validate_python(manifest.frequency_attack)
        except ValidationError:
            audit.add(WARNING, "attack", path, "frequency-attack figures in a form this "
                      "audit does not read", NO_FIGURES)
            continue
        if not figures:
            audit.add(WARNING, "attack", path, "no frequency-attack figures in the manifest",
                      NO_FIGURES)
        tokens = token_parts(manifest)
        audit.figures.setdefault("attack_tokens", {}).update(tokens)
        over = []
        for name_field, attacks in figures.items():
            row: dict = {"source": manifest.source, "field": name_field}
            for attack, parts in attacks.items():
                row |= _flat(parts, attack)
            rows.append(row)
            worst = _worst_sent(attacks, rules)
            if worst is not None and worst[0] > rules.target:
                over.append(_over_target(name_field, worst, tokens))
        if over:
            audit.add(WARNING, "attack", path, f"a frequency attack on what the hub receives "
                      f"recovers the {' and the '.join(over)}; the target is at most "
                      f"{_pct(rules.target)} more")
    return rows


# --- Disclosure ------------------------------------------------------------------------------


def disclosure(audit: Audit, rules: DisclosureRules) -> list[dict]:
    """k-anonymity of the coded attributes per encoded extract and in the persons table."""
    tables = [(audit.relative(p), read_parquet(p)) for p in encoded_files(audit)]
    persons = audit.directory / "outputs" / "persons.parquet"
    if persons.is_file() and parquet_readable(persons):
        tables.append((audit.relative(persons), read_parquet(persons)))
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

    files = hub_side_files(audit.directory)
    for finding in scan_patterns(files):
        audit.add(HIGH, "leak", finding.where(audit.directory), finding.what)
    return len(files)


def check_log(audit: Audit, log_file: Path) -> dict:
    from pseudonymise.joblog import verify_log

    row = {"file": audit.relative(log_file), "entries": 0, "ok": None, "last_hash": None}
    if not log_file.is_file():
        audit.add(WARNING, "log", log_file, "no job log: runs cannot be traced",
                  "Find the job log (each run appends to logs/job-log.jsonl) and keep it "
                  "with the job; without it nothing shows which runs made these files.")
        return row
    check = verify_log(log_file)
    if not check.ok:
        audit.add(HIGH, "log", f"{audit.relative(log_file)}, entry {check.first_broken}",
                  f"hash chain broken: {check.reason}")
    intact = check.entries if check.ok else (check.first_broken or 1) - 1
    return row | {"entries": check.entries, "ok": check.ok, "last_hash": check.last_hash,
                  "files_compared": check_logged_files(audit, log_file, intact)}


def check_logged_files(audit: Audit, log_file: Path, entries: int) -> int:
    """Each hub-side file of the directory that the log's first `entries` entries list as
    written and that still exists, against the SHA-256 of the latest entry that lists it (the
    audit's own report left out: each audit rewrites it); returns the files compared."""
    from pseudonymise.audit import is_hub_side
    from pseudonymise.joblog import logged_outputs

    compared = 0
    for name, (seq, sha256) in logged_outputs(log_file, entries).items():
        relative = Path(name)
        path = audit.directory / relative
        if relative.is_absolute() or ".." in relative.parts or not is_hub_side(relative) \
                or not path.is_file():
            continue
        compared += 1
        if audit.sha256(path) != sha256:
            audit.add(HIGH, "trace", path, f"changed since the job log recorded it (entry "
                      f"{seq}): its SHA-256 is not the one logged")
    return compared


def run_audit(directory: Path, log_file: Path | None = None,
              rules: AuditRules | None = None) -> Audit:
    """Every check on a job directory; findings and figures (nothing written)."""
    from pseudonymise.audit import skipped_folders

    rules = rules or AuditRules.load()
    audit = Audit(directory)
    audit.figures["time"] = datetime.now(UTC).isoformat(timespec="seconds")
    audit.figures["sources"] = check_manifests(audit)
    audit.figures["files_scanned"] = check_leaks(audit)
    audit.figures["not_scanned"] = skipped_folders(directory)
    audit.figures["encoding_health"] = check_encodings(audit, rules.encoding_health)
    audit.figures["attack"] = attack_figures(audit, rules.attack)
    audit.figures["attack_target"] = rules.attack.target
    audit.figures["attack_not_sent"] = rules.attack.not_sent
    audit.figures["disclosure"] = disclosure(audit, rules.disclosure)
    audit.figures["k"] = rules.disclosure.k
    audit.figures["rules"] = rules.model_dump()
    audit.figures["log"] = check_log(audit, log_file or directory / "logs" / "job-log.jsonl")
    return audit
