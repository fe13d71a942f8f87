"""The audit report: one page a privacy officer reads without the code, and the same as JSON.

Findings first (high severity, then warnings), then the figures behind them. Every value in
it is a count, a share, a hash, a key id or a path: never a value from the data.
"""

from __future__ import annotations

import json
from pathlib import Path

from pseudonymise.privacy_audit import HIGH, Audit

ATTACK_COLUMNS = [  # (manifest key, heading)
    ("filter_as_configured.pooled", "filter, pooled"),
    ("filter_as_configured.within_birth_year", "filter, within birth year"),
    ("unhardened_filter.pooled", "hardening off, pooled"),
    ("unhardened_filter.within_birth_year", "hardening off, within birth year"),
    ("name_key_token.pooled", "name-key token, pooled"),
]


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"


def _table(headings: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def verdict(audit: Audit) -> str:
    high = len(audit.high)
    warnings = len(audit.findings) - high
    if high:
        return f"**FAIL**: {high} high-severity finding(s), {warnings} warning(s)."
    return f"**PASS**: no high-severity finding; {warnings} warning(s)."


def findings_section(audit: Audit) -> list[str]:
    if not audit.findings:
        return ["No findings."]
    ordered = sorted(audit.findings, key=lambda f: (f.severity != HIGH, f.check, f.where))
    return _table(["severity", "check", "where", "what"],
                  [[f.severity, f.check, f"`{f.where}`", f.what] for f in ordered])


def sources_section(audit: Audit) -> list[str]:
    return _table(["source", "rows in", "encoded", "rejected", "key id"],
                  [[r["source"], r["rows_in"], r["encoded"], r["rejected"], r["key_id"]]
                   for r in audit.figures.get("sources", [])])


def attack_section(audit: Audit) -> list[str]:
    rows = audit.figures.get("attack", [])
    if not rows:
        return ["No attack figures (the manifests carry none)."]
    target = audit.figures.get("attack_target")
    return [
        "Share of records whose name a frequency attack recovers (the producer measured it "
        "with the cleartext; the attacker ranks encodings by frequency and pairs them with a "
        f"public name list). Target: at most {_pct(target)} with the configured hardening.",
        "",
        *_table(["source", "field", *(h for _, h in ATTACK_COLUMNS)],
                [[r["source"], r["field"], *(_pct(r.get(k)) for k, _ in ATTACK_COLUMNS)]
                 for r in rows]),
    ]


def health_section(audit: Audit) -> list[str]:
    return _table(["file", "field", "filters", "bits", "popcount p5 / median / p95",
                   "bits never set", "most common bit"],
                  [[r["file"], r["field"], r["filters"], r["bits"],
                    f"{r['popcount_p05']} / {r['popcount_median']} / {r['popcount_p95']}",
                    r["bits_never_set"], _pct(r["max_bit_share"])]
                   for r in audit.figures.get("encoding_health", [])])


def disclosure_section(audit: Audit) -> list[str]:
    k = audit.figures.get("k")
    return _table(["table", "attributes", "classes", "smallest class", "records",
                   f"records in classes under k = {k}"],
                  [[r["table"], ", ".join(r["attributes"]), r["classes"], r["smallest_class"],
                    r["records"], r[f"records_in_classes_under_{k}"]]
                   for r in audit.figures.get("disclosure", [])])


def log_section(audit: Audit) -> list[str]:
    log = audit.figures.get("log", {})
    state = {True: "hash chain intact", False: "hash chain BROKEN", None: "missing"}[log.get("ok")]
    return [f"`{log.get('file')}`: {log.get('entries', 0)} entries, {state}."]


def markdown(audit: Audit) -> str:
    sections = [
        ("Findings", findings_section(audit)),
        ("Sources and manifests", sources_section(audit)),
        ("Re-identification by frequency attack", attack_section(audit)),
        ("Encoding health (Bloom filters)", health_section(audit)),
        ("Disclosure: k-anonymity of coded attributes", disclosure_section(audit)),
        ("Job log", log_section(audit)),
    ]
    lines = [f"# Privacy audit of `{audit.directory}`", "", verdict(audit),
             f"{audit.figures.get('files_scanned', 0)} hub-side files scanned for names, "
             "birth dates and document numbers.", ""]
    for title, body in sections:
        lines += [f"## {title}", "", *body, ""]
    return "\n".join(lines)


def write_report(audit: Audit, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "report.md", out_dir / "report.json"
    md.write_text(markdown(audit), encoding="utf-8")
    payload = {"directory": str(audit.directory), "passed": not audit.high,
               "findings": [vars(f) for f in audit.findings], "figures": audit.figures}
    js.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return md, js
