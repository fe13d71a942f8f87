"""Job log: one hash-chained JSON line per run, so an edited, removed or reordered entry shows.

An entry holds the command, the software version, the SHA-256 of the files the run read and
wrote (paths relative to the job's workdir), the key id and counts: never a value from the
data. `hash` is the SHA-256 of the entry's canonical JSON without `hash`; `prev` is the hash
of the entry before it (64 zeros for the first), so changing any entry breaks the chain at
that entry or the next one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

import migralink
from migralink.config import JobConfig
from migralink.errors import MigralinkError
from pseudonymise.audit import hub_side_files
from pseudonymise.spec import file_sha256

if TYPE_CHECKING:
    from linkage.job import LinkResult
    from linkage.load import LoadedSource
    from pseudonymise.job import PseudonymiseResult
    from pseudonymise.privacy_audit import Audit

try:  # one writer at a time; Windows has no fcntl, and there a run appends unlocked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

LOG_FILE = Path("logs") / "job-log.jsonl"  # relative to the job's workdir
FIRST_PREV = "0" * 64
FIELDS = ("seq", "time", "command", "software", "inputs", "outputs", "key_id", "counts",
          "prev", "hash")
LINK_COUNTS = ("records", "identities", "persons")


class JobLogError(MigralinkError):
    """The job log is missing, or its last line cannot be chained onto."""

    hint = "run `migralink audit --log FILE` to find the first broken entry"

    def __init__(self, file: str, message: str):
        self.file = file
        super().__init__(f"{file}: {message}")


@dataclass(frozen=True)
class LogCheck:
    entries: int                     # lines in the log
    ok: bool
    first_broken: int | None = None  # line number (= seq of an intact log)
    reason: str | None = None
    last_hash: str | None = None     # hash of the last entry when ok: keep it to detect a cut


def job_log(config: JobConfig) -> Path:
    """Where a job's runs are logged: logs/job-log.jsonl under its workdir."""
    return config.at(LOG_FILE)


def canonical(entry: Mapping[str, object]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash(entry: Mapping[str, object]) -> str:
    """SHA-256 of the entry's canonical JSON, `hash` left out."""
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def file_record(path: Path, workdir: Path, sha256: str | None = None) -> dict[str, str]:
    """{"file": path relative to the workdir (absolute if outside it), "sha256": ...}; the
    file is hashed unless its `sha256` is given."""
    resolved = path.resolve()
    try:
        name = resolved.relative_to(workdir.resolve()).as_posix()
    except ValueError:
        name = resolved.as_posix()
    return {"file": name, "sha256": file_sha256(path) if sha256 is None else sha256}


def new_entry(last: Mapping[str, object] | None, *, command: str,
              inputs: list[dict[str, str]], outputs: list[dict[str, str]],
              key_id: str | None, counts: Mapping[str, int]) -> dict:
    """The entry that follows `last` (None: the first), with its hash."""
    entry = {
        "seq": 1 if last is None else int(last["seq"]) + 1,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "software": migralink.__version__,
        "inputs": inputs,
        "outputs": outputs,
        "key_id": key_id,
        "counts": {name: int(value) for name, value in counts.items()},
        "prev": FIRST_PREV if last is None else last["hash"],
    }
    entry["hash"] = entry_hash(entry)
    return entry


def _last_entry(log_file: Path, handle: IO[bytes]) -> dict | None:
    handle.seek(0)
    data = handle.read()  # a log grows by one short line a run: reading it whole is cheap
    if not data:
        return None
    if not data.endswith(b"\n"):
        raise JobLogError(str(log_file), "the last line is incomplete (an interrupted write?)")
    last = _parse(data.rsplit(b"\n", 2)[-2])
    if not isinstance(last, dict) or not {"seq", "hash"} <= last.keys():
        raise JobLogError(str(log_file), "the last line is not a log entry")
    return last


def append_entry(log_file: Path, *, command: str, workdir: Path, inputs: Iterable[Path],
                 outputs: Iterable[Path], key_id: str | None, counts: Mapping[str, int],
                 hashes: Mapping[Path, str] | None = None) -> dict:
    """Hash the files (but those in `hashes`, hashed by the caller already), chain a new
    entry onto the log's last one and append it."""
    known = hashes or {}
    files_in = [file_record(p, workdir, known.get(p)) for p in inputs]
    files_out = [file_record(p, workdir, known.get(p)) for p in outputs]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a+b") as handle:  # "a": every write goes to the end
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        entry = new_entry(_last_entry(log_file, handle), command=command, inputs=files_in,
                          outputs=files_out, key_id=key_id, counts=counts)
        handle.write(canonical(entry) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return entry


def _parse(line: bytes) -> object:
    try:
        return json.loads(line)
    except ValueError:  # not JSON, or not UTF-8
        return None


def check_entry(number: int, entry: object, prev: str) -> str | None:
    """Why the entry on line `number` breaks the chain (None: it does not). Names the line,
    never a value."""
    if not isinstance(entry, dict):
        return f"line {number} is not a JSON object"
    missing = [name for name in FIELDS if name not in entry]
    if missing:
        return f"line {number} lacks {', '.join(missing)}"
    if entry["hash"] != entry_hash(entry):
        return f"line {number} does not match its hash: the entry was edited"
    if entry["prev"] != prev:
        after = f"line {number - 1}" if number > 1 else "the start of the log"
        return (f"line {number} does not chain onto {after}: an entry was removed, inserted "
                "or reordered")
    if entry["seq"] != number:
        return f"line {number} has a seq that is not {number}"
    return None


def verify_log(log_file: Path) -> LogCheck:
    """Check every entry's hash and chain, stopping at the first broken one. An empty log is
    ok with 0 entries; a missing one raises JobLogError."""
    try:
        data = log_file.read_bytes()
    except FileNotFoundError:
        raise JobLogError(str(log_file), "file not found") from None
    lines = data.split(b"\n")
    complete = lines.pop() == b""  # what follows the last end of line: nothing, if complete
    total = len(lines) + (not complete)
    prev = FIRST_PREV
    for number, line in enumerate(lines, start=1):
        entry = _parse(line)
        reason = check_entry(number, entry, prev)
        if reason is not None:
            return LogCheck(total, False, number, reason)
        prev = entry["hash"]  # type: ignore[index]
    if not complete:
        return LogCheck(total, False, total,
                        f"line {total} is incomplete (no end of line: an interrupted write?)")
    return LogCheck(total, True, last_hash=prev if lines else None)


def logged_outputs(log_file: Path, entries: int | None = None) -> dict[str, tuple[int, str]]:
    """Each file the log's entries (its first `entries`; None: all) list as written -> (seq,
    SHA-256) of the latest entry that does: a file rewritten by a later run is that run's."""
    latest: dict[str, tuple[int, str]] = {}
    for line in log_file.read_bytes().split(b"\n")[:entries]:
        entry = _parse(line)
        outputs = entry.get("outputs") if isinstance(entry, dict) else None
        for record in outputs if isinstance(outputs, list) else []:
            if isinstance(record, dict) and {"file", "sha256"} <= record.keys():
                latest[str(record["file"])] = (int(entry["seq"]), str(record["sha256"]))
    return latest


def log_pseudonymise(config: JobConfig, result: PseudonymiseResult, raw_file: Path,
                     key_id: str, hashes: Mapping[Path, str] | None = None) -> dict:
    """The entry of one `pseudonymise` run: raw extract in; encoded file, manifest and
    rejects out (`hashes`: those of these files the run has made already)."""
    c = result.counts
    return append_entry(
        job_log(config), command="pseudonymise", workdir=config.workdir, inputs=[raw_file],
        outputs=[result.encoded_file, result.manifest_file, result.rejects_file],
        key_id=key_id, counts={"rows_in": c.rows_in, "encoded": c.encoded,
                               "rejected": c.rejected}, hashes=hashes)


def log_link(config: JobConfig, sources: list[LoadedSource], result: LinkResult) -> dict:
    """The entry of one `link` run: encoded extracts and their manifests in; everything
    written out (outputs.duckdb, linkage.duckdb, outputs/*.parquet, the model, run.json)."""
    inputs = [f for s in sources for f in (s.path, config.manifest_file(s.name))]
    return append_entry(
        job_log(config), command="link", workdir=config.workdir, inputs=inputs,
        outputs=result.outputs, key_id=result.key_id,
        counts={name: result.counts[name] for name in LINK_COUNTS if name in result.counts})


def log_audit(directory: Path, result: Audit, outputs: Iterable[Path],
              log_file: Path | None = None) -> dict | None:
    """The entry of one `audit` run: the hub-side files it read in, its report out. None when
    the log's hash chain is broken: an entry chained onto it would make a broken log look
    continued (the audit has reported it)."""
    log_file = log_file or directory / LOG_FILE
    if not verify_log(log_file).ok:
        return None
    key_ids = {row.get("key_id") for row in result.figures.get("sources", [])}
    counts = {"high": len(result.high), "warnings": len(result.findings) - len(result.high),
              "files_scanned": result.figures.get("files_scanned", 0)}
    inputs = [p for p in hub_side_files(directory) if p.resolve() != log_file.resolve()]
    try:
        return append_entry(log_file, command="audit", workdir=directory, inputs=inputs,
                            outputs=outputs, key_id=key_ids.pop() if len(key_ids) == 1 else None,
                            counts=counts)
    except JobLogError:
        return None
