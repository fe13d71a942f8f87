"""The audit report: one page a privacy officer reads without the code, and the same as JSON.

Findings first (what to fix, then what to read, each group with what to do), then the figures
behind them: sources, frequency attack, encoding health, k-anonymity, job log, the rules
used. Every value in it is a count, a share, a hash, a key id or a path: never a value from
the data.
"""

from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path

from pseudonymise.privacy_audit import (
    BASELINE,
    HIGH,
    PARTS,
    WARNING,
    Audit,
    AuditFinding,
    attack_heading,
)

CHECKS = {  # check -> (title, what to do), in the order the report lists them
    "leak": ("Cleartext identity at the hub",
             "Remove the column or the file from the hub (and from anything released from "
             "it), find the step that wrote it, then run the audit again."),
    "manifest": ("Encoded extract does not match its manifest",
                 "Do not link this extract: ask its producer to encode it again with the "
                 "project key and the shipped rules, and to send the file with its manifest."),
    "trace": ("File changed since the job log recorded it",
              "Find out who changed the file after the run that wrote it: restore the version "
              "the log records, or run that step again (its new entry then records the new "
              "file). Until then nothing shows which run made it."),
    "log": ("Job log",
            "Compare the log with the last entry's hash kept outside the job and find out who "
            "changed it: the runs it records cannot be traced until this is explained."),
    "encoding": ("Encoding health",
                 "Check that this source's name fields are mapped and filled in the job "
                 "config: filters this empty or this full compare names poorly."),
    "attack": ("Frequency attack",
               "Names this common are recognisable at the hub by their frequency alone. Decide "
               "with the project whether this is acceptable before release; what each "
               "hardening option buys is in the README (Hardening)."),
    "disclosure": ("Disclosure", "Check the classes below before releasing record-level data."),
}

def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f} %"


def _n(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "n/a" if value is None else str(value)


def _time(iso: str | None) -> str:
    """`2025-06-30T14:02:11+00:00` -> `2025-06-30 14:02 UTC`."""
    return f"{iso[:10]} {iso[11:16]} UTC" if iso else "at an unknown time"


def _table(headings: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def verdict(audit: Audit) -> str:
    high = len(audit.high)
    warnings = _plural(len(audit.findings) - high, "warning") if len(audit.findings) > high \
        else "no warning"
    if high:
        return (f"**FAIL**: {_plural(high, 'problem')} to fix before this job's outputs are "
                f"used or released; {warnings} to read.")
    return f"**PASS**: no problem to fix; {warnings} to read."


def _where(finding: AuditFinding) -> str:
    """`file`, then table, column and row where they apply."""
    file, _, rest = finding.where.partition(", ")
    return f"`{file}`" + (f", {rest}" if rest else "")


def _ordered(findings: list[AuditFinding]) -> list[AuditFinding]:
    """By check (in the order of CHECKS), then by advice and place."""
    order = list(CHECKS)
    return sorted(findings, key=lambda f: (order.index(f.check) if f.check in order
                                           else len(order), _advice(f), f.where))


def _advice(finding: AuditFinding) -> str:
    return finding.advice or CHECKS.get(finding.check, ("", ""))[1]


def findings_section(audit: Audit) -> list[str]:
    if not audit.findings:
        return ["Nothing to fix and nothing to read."]
    lines: list[str] = []
    number = 0
    for severity, title in ((HIGH, "To fix (high severity)"), (WARNING, "To read (warnings)")):
        findings = _ordered([f for f in audit.findings if f.severity == severity])
        if findings:
            lines += [f"### {title}", ""]
        for (check, advice), group in groupby(findings, key=lambda f: (f.check, _advice(f))):
            items = list(group)
            heading = CHECKS.get(check, (check, ""))[0]
            lines += [f"**{heading}** ({len(items)}). {advice}", ""]
            for finding in items:
                number += 1
                lines.append(f"{number}. {_where(finding)}: {finding.what}.")
            lines.append("")
    return lines[:-1]


def sources_section(audit: Audit) -> list[str]:
    rows = audit.figures.get("sources", [])
    if not rows:
        return ["No manifest was found in `encoded/`."]
    troubled = {f.where.split(", ")[0] for f in audit.findings
                if f.check in ("manifest", "trace")}

    def state(source: str) -> str:
        files = {f"encoded/{source}.parquet", f"encoded/{source}.manifest.json"}
        return "see findings" if files & troubled else "matches"

    return [
        "Each encoded file against its manifest: SHA-256, key id, row count, counts that "
        "reconcile (rows in = encoded + rejected; reject reasons cover the rejected rows), and "
        "the encoding spec and name rules shipped in `rules/`.",
        "",
        *_table(["source", "rows in", "encoded", "rejected", "key id", "file and manifest"],
                [[r["source"], _n(r["rows_in"]), _n(r["encoded"]), _n(r["rejected"]),
                  f"`{r['key_id']}`", state(r["source"])] for r in rows]),
    ]


def _attack_names(rows: list[dict]) -> list[str]:
    """The attacks of the rows (`<attack>.<partition>` keys), in order of appearance."""
    names: list[str] = []
    for row in rows:
        for key in row:
            attack, _, part = key.rpartition(".")
            if part in PARTS and "." not in attack and attack not in names:
                names.append(attack)
    return names


def _shares(shares: list[float | None], bold: list[bool]) -> str:
    return " / ".join(f"**{_pct(s)}**" if b else _pct(s) for s, b in zip(shares, bold,
                                                                             strict=True))


def _attack_cell(row: dict, attack: str, target: float, counted: bool) -> str:
    """`pooled / within birth year (the same from record counts alone)`, a share in bold
    where it exceeds its own baseline by more than the target; an attack the hub does not
    receive (`counted` false) without its baseline."""
    shares = [row.get(f"{attack}.{p}") for p in PARTS]
    if all(s is None for s in shares):
        return "-"
    baselines = [row.get(f"{attack}.{BASELINE}.{p}") for p in PARTS]
    bold = [counted and s is not None and s - (b or 0.0) > target
            for s, b in zip(shares, baselines, strict=True)]
    cell = _shares(shares, bold)
    if counted and any(b is not None for b in baselines):
        cell += f" ({_shares(baselines, [False, False])})"
    return cell


def attack_section(audit: Audit) -> list[str]:
    rows = audit.figures.get("attack", [])
    if not rows:
        return ["No attack figures (the manifests carry none)."]
    target = audit.figures.get("attack_target", 0.0)
    not_sent = audit.figures.get("attack_not_sent", [])
    names = _attack_names(rows)
    tokens = audit.figures.get("attack_tokens", {})
    headings = [attack_heading(a, tokens) for a in names]
    return [
        "Share of records whose name an attacker at the hub recovers by pairing the most "
        "frequent encodings with a public list of common names (each producer measured it on "
        "its own cleartext). Each cell: over the whole extract / within each birth year, then "
        "in brackets what the same attack recovers from record counts alone (no name "
        "encoding: each identity ranked by its number of records, which the hub sees anyway); "
        "a share near that means the encoding tells the attacker nothing more. In bold: more "
        f"than {_pct(target)} above it. \"hardening off\" is what the name filters would give "
        "without the hardening of `rules/encoding.yaml` (equal to \"as sent\" when it "
        "switches none on); the hub never receives it.",
        "",
        *_table(["source", "name", *headings],
                [[r["source"], r["field"].replace("_", " "),
                  *(_attack_cell(r, a, target, a not in not_sent) for a in names)]
                 for r in rows]),
    ]


def _source_of(file: str) -> str:
    return Path(file).name.removesuffix(".parquet")


def health_section(audit: Audit) -> list[str]:
    rows = audit.figures.get("encoding_health", [])
    filled = [r for r in rows if r["filters"]]
    empty: dict[str, list[str]] = {}
    for r in rows:
        if not r["filters"]:
            empty.setdefault(r["field"], []).append(_source_of(r["file"]))
    lines = [
        "Bloom filters of the name fields: bits set per filter (5th percentile / median / "
        "95th), bits never set, and the share of filters that set the most common bit.",
        "",
        *_table(["source", "field", "filters", "bits", "bits set p5 / median / p95",
                 "never set", "most common bit"],
                [[_source_of(r["file"]), r["field"].replace("_", " "), _n(r["filters"]),
                  r["bits"], f"{r['popcount_p05']} / {r['popcount_median']:g} / "
                  f"{r['popcount_p95']}", r["bits_never_set"], _pct(r["max_bit_share"])]
                 for r in filled]),
    ]
    for name, sources in empty.items():
        lines += ["", f"Empty in every record (not supplied): {name} ({', '.join(sources)})."]
    return lines


def disclosure_section(audit: Audit) -> list[str]:
    k = audit.figures.get("k")
    return [
        "Records that share the same values of the coded attributes form a class. Someone "
        "who knows a person's values can single out the records of a class smaller than "
        f"k = {k}.",
        "",
        *_table(["table", "grouped by", "records", "classes", "smallest class",
                 f"records in classes under {k}"],
                [[f"`{r['table']}`", ", ".join(r["attributes"]), _n(r["records"]),
                  _n(r["classes"]), _n(r["smallest_class"]),
                  _n(r[f"records_in_classes_under_{k}"])]
                 for r in audit.figures.get("disclosure", [])]),
    ]


def log_section(audit: Audit) -> list[str]:
    log = audit.figures.get("log", {})
    entries = _plural(log.get("entries", 0), "entry", "entries")
    if log.get("ok") is None:
        return [f"`{log.get('file')}`: missing."]
    if not log["ok"]:
        return [f"`{log.get('file')}`: {entries}, hash chain BROKEN (see the findings)."]
    files = _plural(log.get("files_compared", 0), "hub-side file")
    return [f"`{log.get('file')}`: {entries}, hash chain intact; {files} it records as "
            "written compared with the SHA-256 it logged. Hash of the last entry before this "
            f"audit: `{log.get('last_hash')}`. Keep it outside the job (your notes, a "
            "ticket): a log cut short or rewritten whole shows only against it."]


def rules_section(audit: Audit) -> list[str]:
    rules = audit.figures.get("rules", {})
    health = rules.get("encoding_health", {})
    return [
        f"`rules/audit/checks.yaml`: k = {audit.figures.get('k')}; attack target at most "
        f"{_pct(audit.figures.get('attack_target'))}; filters nearly empty below "
        f"{_pct(health.get('nearly_empty'))} of bits set, nearly full above "
        f"{_pct(health.get('nearly_full'))}, a bit set in more than "
        f"{_pct(health.get('common_bit'))} of filters. Leak patterns: "
        "`rules/audit/leak_patterns.yaml`."]


def _not_scanned(audit: Audit) -> str:
    """` Not scanned: raw/, keys/ (producer-side) and audit/ (this audit's own).`, the folders
    of the directory that the leak scan leaves out; empty when there are none."""
    folders = audit.figures.get("not_scanned", [])
    mine = [f"`{f}/`" for f in folders if f == "audit"]
    theirs = [f"`{f}/`" for f in folders if f != "audit"]
    parts = ([f"{', '.join(theirs)} (producer-side: they stay with the producers)"]
             if theirs else []) + (["`audit/` (this audit's own report)"] if mine else [])
    return f" Not scanned: {' and '.join(parts)}." if parts else ""


def markdown(audit: Audit) -> str:
    sources = audit.figures.get("sources", [])
    key_ids = sorted({r["key_id"] for r in sources})
    keys = f"key id `{key_ids[0]}`" if len(key_ids) == 1 else f"{len(key_ids)} key ids"
    lines = [
        "# Privacy audit", "", verdict(audit), "",
        f"Job directory `{audit.directory}`, audited {_time(audit.figures.get('time'))}: "
        f"{_plural(len(sources), 'source')}, {keys}; "
        f"{_plural(audit.figures.get('files_scanned', 0), 'hub-side file')} scanned for names, "
        "birth dates and document numbers." + _not_scanned(audit), "",
        "## Findings", "", *findings_section(audit), "",
        "## Figures", "",
    ]
    sections = [
        ("Sources and manifests", sources_section(audit)),
        ("Re-identification by a frequency attack", attack_section(audit)),
        ("Encoding health", health_section(audit)),
        ("Disclosure: k-anonymity of coded attributes", disclosure_section(audit)),
        ("Job log", log_section(audit)),
        ("Rules used", rules_section(audit)),
    ]
    for title, body in sections:
        lines += [f"### {title}", "", *body, ""]
    return "\n".join(lines)


def write_report(audit: Audit, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "report.md", out_dir / "report.json"
    md.write_text(markdown(audit), encoding="utf-8")
    payload = {"directory": str(audit.directory), "passed": not audit.high,
               "findings": [vars(f) for f in audit.findings], "figures": audit.figures}
    js.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return md, js
