"""Analysts' read-only access to a job's outputs.duckdb: `migralink query` and `shell`
(work in progress)."""

from __future__ import annotations

from pathlib import Path

FORMATS = ("table", "csv", "json")


def run_query(directory: Path, sql: str, fmt: str = "table", limit: int | None = None) -> str:
    """The result of one read-only SELECT on the analyst views, formatted as `fmt`."""
    raise NotImplementedError


def shell(directory: Path) -> None:
    """An interactive read-only SQL prompt on the analyst views."""
    raise NotImplementedError
