"""The results of the commands as data (`--json`): counts, seconds, quality headlines and
file paths, never a value from the records."""

from __future__ import annotations

from pathlib import Path

from linkage.job import LinkResult
from pseudonymise.job import PseudonymiseResult


def pseudonymise_data(result: PseudonymiseResult) -> dict:
    """One source's counts (with the reasons rows were rejected) and the files written."""
    c = result.counts
    return {"source": result.source,
            "counts": {"rows_in": c.rows_in, "encoded": c.encoded, "rejected": c.rejected,
                       "reasons": c.reasons, "notes": c.notes},
            "encoded": str(result.encoded_file), "manifest": str(result.manifest_file),
            "rejects": str(result.rejects_file)}


def quality_headline(quality: dict) -> dict:
    """The estimated quality (no truth needed): threshold, expected precision and recall."""
    if not quality:
        return {}
    estimated = quality["estimated"]
    at = estimated["at_threshold"]
    headline = {"threshold": estimated["threshold"], "chosen_by": estimated["chosen_by"],
                "pairs": at.get("pairs"), "expected_precision": at.get("expected_precision"),
                "expected_recall": at.get("expected_recall"),
                "expected_f1": at.get("expected_f1"),
                "model_checks": len(quality.get("model_checks", []))}
    if quality.get("labels"):
        headline["labels"] = quality["labels"]
    return headline


def link_data(result: LinkResult) -> dict:
    """A link run: what run.json keeps, the quality headline and every file written."""
    record = result.record()
    return {"key_id": result.key_id, "counts": result.counts, "seconds": result.seconds,
            "quality": quality_headline(result.quality), "plan": record["plan"],
            "clustering": record["clustering"], "person_ids": record["person_ids"],
            "warnings": result.warnings, "model_warnings": len(result.model_warnings),
            "outputs": [str(p) for p in result.outputs]}


def outputs_line(directory: Path, paths: list[Path]) -> str:
    """'outputs in DIR: run.json, published/ (20), ...': the files right under DIR by name,
    the others by folder, with how many there are."""
    shown: dict[str, int] = {}
    for path in paths:
        try:
            parts = path.relative_to(directory).parts
        except ValueError:  # written outside the directory: named whole
            parts = (str(path),)
        name = parts[0] + "/" if len(parts) > 1 else parts[0]
        shown[name] = shown.get(name, 0) + 1
    names = [f"{n} ({k})" if n.endswith("/") and k > 1 else n for n, k in shown.items()]
    return f"outputs in {directory}: {', '.join(names)}"


def seconds_line(seconds: dict[str, float]) -> str:
    """'seconds  load 0.2  plan 0.5 ...  total 5.1' (the total added when not there)."""
    if "total" not in seconds:
        seconds = {**seconds, "total": round(sum(seconds.values()), 2)}
    return "seconds  " + "  ".join(f"{step} {s}" for step, s in seconds.items())
