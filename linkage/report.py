"""`migralink report DIR`: one self-contained report.html of a finished job (work in progress)."""

from __future__ import annotations

from pathlib import Path

REPORT_FILE = "report.html"


def write_report(directory: Path, out: Path | None = None) -> Path:
    """Write the job's report (default: DIRECTORY/report.html) and return its path."""
    path = out or directory / REPORT_FILE
    path.write_text("<!DOCTYPE html><html><body><p>report to come</p></body></html>\n",
                    encoding="utf-8")
    return path
