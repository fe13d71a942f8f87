"""The `migralink` command. Thin: each command parses arguments and calls one library function."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from migralink.errors import MigralinkError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Privacy-preserving linkage of migration records into ILO statistics.")


def clear_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """A MigralinkError becomes one line on stderr and exit status 2 (traceback with --debug)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as err:  # noqa: BLE001 - the one place every error becomes a line
            if os.environ.get("MIGRALINK_DEBUG"):
                raise
            typer.echo(f"error: {one_line(err)}", err=True)
            raise typer.Exit(2 if isinstance(err, MigralinkError | OSError) else 1) from None

    return wrapper


def one_line(err: Exception) -> str:
    """What to tell the user. Only our own messages and OS errors are shown: a third-party
    message (polars, DuckDB, splink) may quote a data value, so it is never echoed."""
    if isinstance(err, MigralinkError):
        return str(err) + (f" (hint: {err.hint})" if err.hint else "")
    if isinstance(err, OSError):
        return f"{err.filename}: {err.strerror}" if err.filename else str(err.strerror)
    return (f"unexpected {type(err).__name__}; run with --debug for the traceback "
            "(it may show data values)")


def passphrase(variable: str) -> str:
    """From the environment variable, or asked for when a person is at the terminal."""
    if os.environ.get(variable) or not sys.stdin.isatty():
        from pseudonymise.keys import passphrase_from_env

        return passphrase_from_env(variable)
    return typer.prompt("Passphrase", hide_input=True)


@app.callback()
def main(debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False) -> None:
    if debug:
        os.environ["MIGRALINK_DEBUG"] = "1"


@app.command()
@clear_errors
def synth(
    persons: Annotated[int, typer.Option(min=1, help="Number of persons.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 1,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("synth-output"),
) -> None:
    """Write a synthetic population's four raw extracts (out/raw) and its truth (out/truth)."""
    from benchmarks.synth import synthesise

    typer.echo(json.dumps(synthesise(persons, seed, out), default=str))


@app.command()
@clear_errors
def keygen(
    out: Annotated[Path, typer.Option(help="Key file to write.")],
    passphrase_env: Annotated[str, typer.Option(
        help="Environment variable holding the passphrase (prompted for when unset).")
    ] = "MIGRALINK_PASSPHRASE",
    force: Annotated[bool, typer.Option(help="Overwrite an existing key file.")] = False,
    rotate: Annotated[bool, typer.Option(
        help="Replace the key in OUT by a new generation; the old one is kept as OUT.genN.")
    ] = False,
) -> None:
    """Create a random project secret, encrypted under a passphrase; print its key id."""
    from pseudonymise.keys import rotate_key, write_key

    if rotate:
        key, kept = rotate_key(out, passphrase(passphrase_env))
        typer.echo(key.key_id)
        typer.echo(f"generation {key.generation}; the previous key is kept in {kept}. Encode "
                   "every source again: extracts of two generations do not link.", err=True)
        return
    if out.exists() and not force:
        raise MigralinkError(f"{out}: exists; use --rotate for a new generation, or --force "
                             "to replace it (old encodings will no longer link with new ones)")
    secret_phrase = os.environ.get(passphrase_env) or typer.prompt(
        "Passphrase", hide_input=True, confirmation_prompt=True)
    key = write_key(out, secret_phrase)
    typer.echo(key.key_id)


def _load(config: Path, workdir: Path | None):  # noqa: ANN202 - JobConfig, imported lazily
    from migralink.config import load_config

    return load_config(config, workdir)


@app.command()
@clear_errors
def pseudonymise(
    config: Annotated[Path, typer.Option(help="Job config (YAML).")],
    source: Annotated[str, typer.Option(help="Source name in the config.")],
    key: Annotated[Path | None, typer.Option(help="Key file (default: the config's).")] = None,
    workdir: Annotated[Path | None, typer.Option(help="Override the config's workdir.")] = None,
) -> None:
    """Validate, normalise and encode one raw extract; write Parquet, rejects and manifest."""
    from pseudonymise.job import pseudonymise_source
    from pseudonymise.keys import read_key

    job = _load(config, workdir)
    key_file = key or job.at(job.key.file)
    project_key = read_key(key_file, passphrase(job.key.passphrase_env))
    result = pseudonymise_source(job, source, project_key)
    c = result.counts
    typer.echo(f"{source}: {c.rows_in} rows in, {c.encoded} encoded, {c.rejected} rejected "
               f"({result.rejects_file}); key id {project_key.key_id}")
    if c.encoded == 0:
        typer.echo(f"warning: {source}: no row was encoded", err=True)
    typer.echo(f"encoded: {result.encoded_file}\nmanifest: {result.manifest_file}")


@app.command()
@clear_errors
def link(
    config: Annotated[Path, typer.Option(help="Job config (YAML).")],
    workdir: Annotated[Path | None, typer.Option(help="Override the config's workdir.")] = None,
    plan: Annotated[bool, typer.Option(
        "--plan", help="Print the comparisons of each blocking pass and stop.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Link even when the plan is over the rules' budget.")] = False,
    previous: Annotated[Path | None, typer.Option(
        help="Person-id registry to carry ids from (default: OUT/person_ids.parquet).")
    ] = None,
    labels: Annotated[Path | None, typer.Option(
        help="Clerical labels CSV (source_l, record_id_l, source_r, record_id_r, is_match): "
             "m from the labelled matches, and the links checked against them.")] = None,
) -> None:
    """Link the encoded extracts, cluster persons, build events and indicators."""
    from linkage.job import plan_link, run_link

    job = _load(config, workdir)
    if labels is not None:
        job = job.model_copy(update={"labels": labels.resolve()})
    if plan:
        typer.echo("\n".join(plan_link(job).table()))
        return
    result = run_link(job, force=force, previous=previous)
    typer.echo("\n".join(result.summary()))
    typer.echo("outputs: " + ", ".join(str(p) for p in result.outputs))


@app.command()
@clear_errors
def demo(
    persons: Annotated[int, typer.Option(min=100, help="Synthetic persons.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("demo-output"),
    dataset: Annotated[str, typer.Option(help="synth or febrl4.")] = "synth",
) -> None:
    """Run the whole job on embedded data and measure it against the truth (quality.json)."""
    from migralink.demo import DATASETS, run_demo, summary

    if dataset not in DATASETS:
        raise MigralinkError(f"--dataset must be one of {', '.join(DATASETS)}")
    typer.echo(summary(run_demo(out, persons, seed, dataset)))


@app.command()
@clear_errors
def query(
    directory: Annotated[Path, typer.Argument(help="Job directory (holds outputs.duckdb).")],
    sql: Annotated[str, typer.Argument(help="One SELECT on the analyst views.")],
    output: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows.")] = None,
) -> None:
    """Run one read-only query on the analyst views of a job's outputs."""
    from linkage.analyst import FORMATS, run_query

    if output not in FORMATS:
        raise MigralinkError(f"--format must be one of {', '.join(FORMATS)}")
    typer.echo(run_query(directory, sql, output, limit))


@app.command()
@clear_errors
def shell(
    directory: Annotated[Path, typer.Argument(help="Job directory (holds outputs.duckdb).")],
) -> None:
    """An interactive read-only SQL prompt on the analyst views of a job's outputs."""
    from linkage.analyst import shell as analyst_shell

    analyst_shell(directory)


@app.command()
@clear_errors
def report(
    directory: Annotated[Path, typer.Argument(help="Job directory, after `migralink link`.")],
    out: Annotated[Path | None, typer.Option(help="HTML file (default: DIRECTORY/report.html).")
                   ] = None,
) -> None:
    """Write one self-contained HTML report of the job: statistics, linkage quality, privacy."""
    from linkage.report import write_report

    typer.echo(f"report: {write_report(directory, out)}")


AUDIT_FAILED = 3  # exit status when the audit finds a high-severity problem


@app.command()
@clear_errors
def audit(
    directory: Annotated[Path | None, typer.Argument(
        help="Job directory (encoded/, outputs.duckdb, outputs/, logs/).")] = None,
    log: Annotated[Path | None, typer.Option(
        help="Job log to verify (default: DIRECTORY/logs/job-log.jsonl); alone, only the "
             "log is checked.")] = None,
) -> None:
    """Privacy audit: manifests, leak scan, encoding health, attack figures, disclosure, job
    log. Writes DIRECTORY/audit/report.md and report.json; exit status 3 on a high-severity
    finding."""
    if directory is None and log is None:
        raise MigralinkError("give a job directory, or --log FILE")
    if directory is None:
        _verify_log_only(log)
        return
    from pseudonymise.audit_report import verdict, write_report
    from pseudonymise.joblog import LOG_FILE, log_audit
    from pseudonymise.privacy_audit import run_audit

    if not directory.is_dir():
        raise MigralinkError(f"{directory}: not a directory")
    result = run_audit(directory, log)
    report, report_json = write_report(result, directory / "audit")
    # The audit logs itself in the job's log, but never starts one (a log begun by the audit
    # would hide, at the next audit, that the runs before it were never logged) nor continues
    # a broken one (log_audit returns None).
    own_log = directory / LOG_FILE
    entry = log_audit(directory, result, [report, report_json]) if own_log.is_file() else None
    typer.echo(verdict(result).replace("**", ""))
    for finding in result.high:
        typer.echo(f"  {finding.check}: {finding.where}: {finding.what}")
    typer.echo(f"report: {report}")
    if entry is not None:
        typer.echo(f"job log: entry {entry['seq']} added, hash {entry['hash']}")
    elif own_log.is_file():
        typer.echo(f"job log: no entry added, {LOG_FILE} is broken")
    if result.high:
        raise typer.Exit(AUDIT_FAILED)


def _verify_log_only(log: Path) -> None:
    from pseudonymise.joblog import verify_log

    check = verify_log(log)
    if check.ok:
        typer.echo(f"{log}: {check.entries} entries, hash chain intact")
        return
    typer.echo(f"{log}: entry {check.first_broken} is the first broken one: {check.reason}")
    raise typer.Exit(AUDIT_FAILED)


bench = typer.Typer(add_completion=False, no_args_is_help=True,
                    help="Benchmarks on generated data; each prints one JSON line of figures.")
app.add_typer(bench, name="bench")


@bench.command("encode")
@clear_errors
def bench_encode(
    records: Annotated[int, typer.Option(min=1, help="Records to encode.")],
    seed: Annotated[int, typer.Option(help="Random seed of the generated records.")] = 1,
) -> None:
    """Encoding throughput of the production encoder against a plain per-record encoder."""
    from benchmarks.bench_encode import run_encode_benchmark

    typer.echo(json.dumps(run_encode_benchmark(records, seed)))


@bench.command("memory")
@clear_errors
def bench_memory(
    rows: Annotated[int, typer.Option(min=1, help="Rows of the border-crossings extract.")],
    batch_rows: Annotated[int | None, typer.Option(
        min=1, help="Rows read per batch (default: the reader's).")] = None,
) -> None:
    """Peak memory and time of `pseudonymise` on a generated extract, in a child process."""
    from benchmarks.bench_memory import run_memory_benchmark
    from pseudonymise.read import BATCH_ROWS

    typer.echo(json.dumps(run_memory_benchmark(rows, batch_rows or BATCH_ROWS)))


@bench.command("accuracy")
@clear_errors
def bench_accuracy(
    dataset: Annotated[str, typer.Option(help="febrl4 or synth.")] = "febrl4",
    persons: Annotated[int, typer.Option(min=100, help="Synthetic persons (synth).")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (synth).")] = 1,
    out: Annotated[Path | None, typer.Option(
        help="Keep the run in this directory (default: a temporary one).")] = None,
) -> None:
    """Pair and person precision/recall of the whole pipeline (encode, link) on a dataset."""
    from benchmarks.accuracy import run_accuracy
    from migralink.demo import DATASETS

    if dataset not in DATASETS:
        raise MigralinkError(f"--dataset must be one of {', '.join(DATASETS)}")
    typer.echo(json.dumps(run_accuracy(dataset, persons, seed, out)))


@bench.command("vs-splink")
@clear_errors
def bench_vs_splink(
    persons: Annotated[int, typer.Option(min=100, help="Synthetic persons.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    out: Annotated[Path | None, typer.Option(
        help="Keep the run in this directory (default: a temporary one).")] = None,
) -> None:
    """migralink on encodings against splink on cleartext, same records: F1, time, memory,
    each side in a child process of its own."""
    from benchmarks.vs_splink import run_vs_splink

    typer.echo(json.dumps(run_vs_splink(persons, seed, out)))


@bench.command("stability")
@clear_errors
def bench_stability(
    persons: Annotated[int, typer.Option(min=100, help="Synthetic persons.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    out: Annotated[Path | None, typer.Option(
        help="Keep both runs in this directory (default: a temporary one).")] = None,
    months: Annotated[int, typer.Option(
        min=1, max=60, help="Months left out of the first run's extracts.")] = 1,
) -> None:
    """Person ids across two runs: extracts cut a month before the period end, then whole."""
    from benchmarks.stability import run_stability

    typer.echo(json.dumps(run_stability(persons, seed, out, months)))


if __name__ == "__main__":
    sys.exit(app())
