"""The `migralink` command. Thin: each command parses arguments and calls one library function.

Every command returns a `Summary` and takes --quiet, --json and --debug (added by
`shared_options`, which also shows the summary in the form asked for and turns an error into
one line). Progress bars go to stderr, only for a person at a terminal (migralink/progress.py).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from migralink.errors import ConfigError, MigralinkError
from migralink.progress import Bars, shown

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Privacy-preserving linkage of migration records into ILO statistics.")


@dataclass
class Summary:
    """What a command tells: `lines` for a person (stdout) and `notes` (stderr), `data` for
    --json, `value` alone for --quiet (a key id, a path: when the output is a value)."""

    lines: list[str] = field(default_factory=list)
    data: dict | None = None
    value: str | None = None
    notes: list[str] = field(default_factory=list)
    exit_code: int = 0


@dataclass
class Options:
    quiet: bool = False
    json: bool = False
    debug: bool = False


RUN = Options()  # the options of the command being run (the global --debug is set first)


def _flag(name: str, flags: tuple[str, ...], text: str) -> inspect.Parameter:
    """A keyword-only yes/no option, as typer reads it from a function's signature."""
    option = typer.Option(*flags, help=text, rich_help_panel="Output")
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False,
                             annotation=Annotated[bool, option])


SHARED_OPTIONS = [
    _flag("quiet", ("--quiet", "-q"), "Print only errors, and the command's value (key id, path)."),
    _flag("json_output", ("--json",), "Print the summary as one JSON object."),
    _flag("debug", ("--debug",), "Show the traceback of an error."),
]


class CommandError(MigralinkError):
    """A command given something it cannot use; the hint says what would do."""


def shared_options(command: Callable[..., Summary | None]) -> Callable[..., None]:
    """Add --quiet, --json and --debug to `command`, show the Summary it returns as asked, and
    turn an error into one line on stderr: exit status 2 for a MigralinkError or an OS
    error, 130 for Ctrl-C, 1 for anything else (the traceback with --debug)."""

    @functools.wraps(command)
    def wrapper(*args: Any, quiet: bool = False, json_output: bool = False, debug: bool = False,
                **kwargs: Any) -> None:
        RUN.quiet, RUN.json = quiet, json_output
        RUN.debug = RUN.debug or debug or bool(os.environ.get("MIGRALINK_DEBUG"))
        try:
            summary = command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except (Exception, KeyboardInterrupt) as err:  # noqa: BLE001 - every error a line
            if RUN.debug:
                raise
            typer.echo(f"error: {one_line(err)}", err=True)
            raise typer.Exit(exit_status(err)) from None
        if summary is not None:
            show(summary, RUN)
            if summary.exit_code:
                raise typer.Exit(summary.exit_code)

    own = inspect.signature(command, eval_str=True)
    wrapper.__signature__ = own.replace(  # type: ignore[attr-defined] - read by typer
        parameters=[*own.parameters.values(), *SHARED_OPTIONS])
    return wrapper


def show(summary: Summary, options: Options) -> None:
    """The summary as JSON (--json), its value alone (--quiet), or its lines."""
    if options.json:
        if summary.data is not None:
            typer.echo(json.dumps(summary.data, default=str))
        elif summary.value is not None:
            typer.echo(summary.value)
    elif options.quiet:
        if summary.value is not None:
            typer.echo(summary.value)
    else:
        if summary.lines:
            typer.echo("\n".join(summary.lines))
        for note in summary.notes:
            typer.echo(note, err=True)


INTERRUPTED = 130  # exit status after Ctrl-C, as shells give


def interrupted(err: BaseException) -> bool:
    """Ctrl-C: a KeyboardInterrupt, or DuckDB's forms of it (InterruptException, and the
    RuntimeError its Python API raises when the signal comes while a query executes)."""
    duckdb = sys.modules.get("duckdb")  # not imported: not a DuckDB error
    return (isinstance(err, KeyboardInterrupt)
            or (duckdb is not None and isinstance(err, duckdb.InterruptException))
            or (type(err) is RuntimeError and str(err) == "Query interrupted"))


def exit_status(err: BaseException) -> int:
    if interrupted(err):
        return INTERRUPTED
    return 2 if isinstance(err, MigralinkError | OSError) else 1


def one_line(err: BaseException) -> str:
    """What to tell the user. Only our own messages and OS errors are shown: a third-party
    message (polars, DuckDB, splink) may quote a data value, so it is never echoed."""
    if interrupted(err):
        return "interrupted"
    if isinstance(err, MigralinkError):
        return str(err) + (f"; hint: {err.hint}" if err.hint else "")
    if isinstance(err, OSError):
        return f"{err.filename}: {err.strerror}" if err.filename else str(err.strerror)
    return (f"unexpected {type(err).__name__}; hint: run with --debug for the traceback "
            "(it may show data values)")


def bars() -> Bars:
    """Progress bars for the command being run: on stderr, at a terminal, unless --quiet."""
    return Bars(shown(RUN.quiet))


def passphrase(variable: str, confirm: bool = False) -> str:
    """From the environment variable, or asked for when a person is at the terminal."""
    if os.environ.get(variable):
        return os.environ[variable]
    if not sys.stdin.isatty():
        raise CommandError(f"no passphrase: the environment variable {variable} is not set",
                           hint=f"set {variable} to the key's passphrase, or run the command "
                                "at a terminal to be asked for it")
    return typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)


@app.callback()
def main(debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False) -> None:
    RUN.debug = debug


@app.command()
@shared_options
def synth(
    persons: Annotated[int, typer.Option(min=1, help="Number of persons.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 1,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("synth-output"),
) -> Summary:
    """Write a synthetic population's four raw extracts (out/raw) and its truth (out/truth)."""
    from benchmarks.synth import synthesise

    with bars() as progress:
        progress.busy("synthesise")
        figures = synthesise(persons, seed, out)
    return Summary([json.dumps(figures, default=str)], figures, str(out))


@app.command()
@shared_options
def keygen(
    out: Annotated[Path, typer.Option(help="Key file to write.")],
    passphrase_env: Annotated[str, typer.Option(
        help="Environment variable holding the passphrase (prompted for when unset).")
    ] = "MIGRALINK_PASSPHRASE",
    force: Annotated[bool, typer.Option(help="Overwrite an existing key file.")] = False,
    rotate: Annotated[bool, typer.Option(
        help="Replace the key in OUT by a new generation; the old one is kept as OUT.genN.")
    ] = False,
) -> Summary:
    """Create a random project secret, encrypted under a passphrase; print its key id."""
    from pseudonymise.keys import rotate_key, write_key

    if rotate:
        key, kept = rotate_key(out, passphrase(passphrase_env))
        return Summary([key.key_id], {"key_id": key.key_id, "generation": key.generation,
                                      "file": str(out), "kept": str(kept)}, key.key_id,
                       [f"generation {key.generation}; the previous key is kept in {kept}. "
                        "Encode every source again: extracts of two generations do not link."])
    if out.exists() and not force:
        raise CommandError(f"{out}: exists", hint="use --rotate for a new generation, or --force "
                           "to replace it: old encodings will no longer link with new ones")
    key = write_key(out, passphrase(passphrase_env, confirm=True))
    return Summary([key.key_id], {"key_id": key.key_id, "generation": key.generation,
                                  "file": str(out)}, key.key_id)


CONFIG_HINT = "--config takes a job config (YAML), such as configs/demo.yaml"
ENGINES = ("duckdb", "spark")  # hub.engine in migralink/config.py


def _load(config: Path, workdir: Path | None):  # noqa: ANN202 - JobConfig, imported lazily
    from migralink.config import load_config

    try:
        return load_config(config, workdir)
    except ConfigError as err:
        if not Path(err.file).is_file():  # the config itself is missing, or a directory
            err.hint = CONFIG_HINT
        raise


@app.command()
@shared_options
def pseudonymise(
    config: Annotated[Path, typer.Option(help="Job config (YAML).")],
    source: Annotated[str, typer.Option(help="Source name in the config.")],
    key: Annotated[Path | None, typer.Option(help="Key file (default: the config's).")] = None,
    workdir: Annotated[Path | None, typer.Option(help="Override the config's workdir.")] = None,
) -> Summary:
    """Validate, normalise and encode one raw extract; write Parquet, rejects and manifest."""
    from migralink.summary import pseudonymise_data
    from pseudonymise.job import pseudonymise_source
    from pseudonymise.keys import read_key

    job = _load(config, workdir)
    if source not in job.sources:
        raise CommandError(f"{config}: no source '{source}'",
                           hint=f"--source is one of {', '.join(job.sources)}")
    key_file = key or job.at(job.key.file)
    if not key_file.is_file():
        raise CommandError(f"{key_file}: no key file", hint=f"create the project key with "
                           f"`migralink keygen --out {key_file}`, or give --key FILE")
    project_key = read_key(key_file, passphrase(job.key.passphrase_env))
    with bars() as progress:
        result = pseudonymise_source(job, source, project_key,
                                     on_batch=progress.rows("pseudonymise", first=source))
    c = result.counts
    warnings = [f"{source}: no row was encoded"] if c.encoded == 0 else []
    return Summary(
        [f"{source}: {c.rows_in:,} rows in, {c.encoded:,} encoded, {c.rejected:,} rejected "
         f"({result.rejects_file}); key id {project_key.key_id}",
         f"encoded: {result.encoded_file}", f"manifest: {result.manifest_file}"],
        {**pseudonymise_data(result), "key_id": project_key.key_id, "warnings": warnings},
        str(result.encoded_file), [f"warning: {w}" for w in warnings])


@app.command()
@shared_options
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
    engine: Annotated[str | None, typer.Option(
        help="Where splink trains and predicts: duckdb or spark (default: the config's "
             "hub.engine). All else runs on DuckDB.")] = None,
) -> Summary:
    """Link the encoded extracts, cluster persons, build events and indicators."""
    from linkage.job import LINK_STEPS, plan_link, run_link
    from migralink.summary import link_data, outputs_line, seconds_line

    job = _load(config, workdir)
    if labels is not None:
        job = job.model_copy(update={"labels": labels.resolve()})
    if engine is not None:
        if engine not in ENGINES:
            raise CommandError(f"--engine {engine!r}: not an engine",
                               hint=f"--engine is one of {', '.join(ENGINES)}")
        job = job.model_copy(update={"hub": job.hub.model_copy(update={"engine": engine})})
    if plan:
        with bars() as progress:
            progress.busy("plan")
            blocking = plan_link(job)
        table = blocking.table()
        return Summary(table, {"plan": blocking.record()}, "\n".join(table))
    with bars() as progress:
        result = run_link(job, force=force, previous=previous,
                          on_step=progress.steps("link", LINK_STEPS))
    return Summary([*result.summary(), seconds_line(result.seconds),
                    outputs_line(job.outputs_dir, result.outputs)], link_data(result))


@app.command()
@shared_options
def demo(
    persons: Annotated[int, typer.Option(min=100, help="Synthetic persons.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("demo-output"),
    dataset: Annotated[str, typer.Option(help="synth or febrl4.")] = "synth",
) -> Summary:
    """Run the whole job on embedded data and measure it against the truth (quality.json)."""
    from linkage.job import LINK_STEPS
    from migralink.demo import DATASETS, demo_steps, run_demo, summary, summary_data

    if dataset not in DATASETS:
        raise CommandError(f"--dataset must be one of {', '.join(DATASETS)}")
    steps = demo_steps(dataset)
    with bars() as progress:
        result = run_demo(out, persons, seed, dataset, on_step=progress.steps("demo", steps),
                          on_batch=progress.rows("pseudonymise"),
                          on_link_step=progress.steps("link", LINK_STEPS, at_once=False))
    return Summary(summary(result).splitlines(), summary_data(result))


def job_directory(directory: Path) -> Path:
    """`directory`, when it holds a finished job's outputs.duckdb."""
    from linkage.outputs import OUTPUTS_DB

    if not (directory / OUTPUTS_DB).is_file():
        raise CommandError(f"{directory}: no {OUTPUTS_DB}", hint="give the outputs directory "
                           "of a finished job, where `migralink link` wrote it")
    return directory


@app.command()
@shared_options
def query(
    directory: Annotated[Path, typer.Argument(
        help="Job directory (holds outputs.duckdb), or that file.")],
    sql: Annotated[str, typer.Argument(help="One SELECT on the analyst views.")],
    output: Annotated[str | None, typer.Option(
        "--format", help="table (the default), csv or json. --json is --format json; "
                         "with another --format it is refused.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows.")] = None,
) -> Summary:
    """Run one read-only query on the analyst views of a job's outputs (--json: the rows as
    JSON)."""
    from linkage.analyst import FORMATS, run_query

    if output is not None and output not in FORMATS:
        raise CommandError(f"--format {output}: not a format",
                           hint=f"--format is one of {', '.join(FORMATS)}")
    if RUN.json and output not in (None, "json"):
        raise CommandError(f"--json and --format {output} disagree",
                           hint="--json prints the rows as JSON (as --format json does): "
                                "give one or the other")
    text = run_query(directory, sql, "json" if RUN.json else output or "table", limit)
    return Summary([text], None, text)


@app.command()
@shared_options
def shell(
    directory: Annotated[Path, typer.Argument(
        help="Job directory (holds outputs.duckdb), or that file.")],
) -> Summary:
    """An interactive read-only SQL prompt on the analyst views of a job's outputs. Fed from
    a pipe or file, it exits with status 2 when a statement failed."""
    from linkage.analyst import shell as analyst_shell

    failed = analyst_shell(directory)
    return Summary(exit_code=2 if failed and not sys.stdin.isatty() else 0)


@app.command()
@shared_options
def report(
    directory: Annotated[Path, typer.Argument(help="Job directory, after `migralink link`.")],
    out: Annotated[Path | None, typer.Option(help="HTML file (default: DIRECTORY/report.html).")
                   ] = None,
) -> Summary:
    """Write one self-contained HTML report of the job: statistics, linkage quality, privacy."""
    from linkage.report import write_report

    path = write_report(job_directory(directory), out)
    return Summary([f"report: {path}"], {"report": str(path)}, str(path))


AUDIT_FAILED = 3  # exit status when the audit finds a high-severity problem


@app.command()
@shared_options
def audit(
    directory: Annotated[Path | None, typer.Argument(
        help="Job directory (encoded/, outputs.duckdb, outputs/, logs/).")] = None,
    log: Annotated[Path | None, typer.Option(
        help="Job log to verify (default: DIRECTORY/logs/job-log.jsonl); alone, only the "
             "log is checked.")] = None,
) -> Summary:
    """Privacy audit: manifests, leak scan, encoding health, attack figures, disclosure, job
    log. Writes DIRECTORY/audit/report.md and report.json; exit status 3 on a high-severity
    finding."""
    if directory is None and log is None:
        raise CommandError("nothing to audit", hint="give a job directory, or --log FILE")
    if directory is None:
        return _verify_log_only(log)
    from pseudonymise.audit_report import verdict, write_report
    from pseudonymise.joblog import LOG_FILE, log_audit
    from pseudonymise.privacy_audit import run_audit

    if not directory.is_dir():
        raise CommandError(f"{directory}: not a directory",
                           hint="give the job directory (its workdir), or --log FILE")
    with bars() as progress:
        progress.busy("audit")
        result = run_audit(directory, log)
    report, report_json = write_report(result, directory / "audit")
    # The audit logs itself in the job's log, but never starts one (a log begun by the audit
    # would hide, at the next audit, that the runs before it were never logged) nor continues
    # a broken one (log_audit returns None).
    own_log = directory / LOG_FILE
    entry = log_audit(directory, result, [report, report_json]) if own_log.is_file() else None
    lines = [verdict(result).replace("**", "")]
    lines += [f"  {finding.check}: {finding.where}: {finding.what}" for finding in result.high]
    lines.append(f"report: {report}")
    run_report = _refresh_run_report(directory)
    if run_report is not None:
        lines.append(f"run report: {run_report} (privacy box updated)")
    if entry is not None:
        lines.append(f"job log: entry {entry['seq']} added, hash {entry['hash']}")
    elif own_log.is_file():
        lines.append(f"job log: no entry added, {LOG_FILE} is broken")
    data = {"verdict": "FAIL" if result.high else "PASS", "high": len(result.high),
            "warnings": len(result.findings) - len(result.high),
            "findings": [asdict(f) for f in result.findings],
            "report": str(report), "report_json": str(report_json),
            "job_log": None if entry is None else {"seq": entry["seq"], "hash": entry["hash"]}}
    return Summary(lines, data, str(report), exit_code=AUDIT_FAILED if result.high else 0)


def _refresh_run_report(directory: Path) -> Path | None:
    """The job's report.html, written again so its privacy box shows this audit."""
    from linkage.report import REPORT_FILE
    from linkage.report import write_report as write_run_report

    if not (directory / REPORT_FILE).is_file() or not (directory / "run.json").is_file():
        return None
    return write_run_report(directory)


def _verify_log_only(log: Path) -> Summary:
    from pseudonymise.joblog import verify_log

    check = verify_log(log)
    data = {"log": str(log), **asdict(check)}
    if check.ok:
        return Summary([f"{log}: {check.entries} entries, hash chain intact"], data)
    return Summary([f"{log}: entry {check.first_broken} is the first broken one: "
                    f"{check.reason}"], data, exit_code=AUDIT_FAILED)


def figures(title: str, run: Callable[[], dict]) -> Summary:
    """A benchmark's figures: one JSON line, whatever the options (a spinner meanwhile)."""
    with bars() as progress:
        progress.busy(title)
        result = run()
    line = json.dumps(result)
    return Summary([line], result, line)


bench = typer.Typer(add_completion=False, no_args_is_help=True,
                    help="Benchmarks on generated data; each prints one JSON line of figures.")
app.add_typer(bench, name="bench")


@bench.command("encode")
@shared_options
def bench_encode(
    records: Annotated[int, typer.Option(min=1, help="Records to encode.")],
    seed: Annotated[int, typer.Option(help="Random seed of the generated records.")] = 1,
) -> Summary:
    """Encoding throughput of the production encoder against a plain per-record encoder."""
    from benchmarks.bench_encode import run_encode_benchmark

    return figures("bench encode", lambda: run_encode_benchmark(records, seed))


@bench.command("memory")
@shared_options
def bench_memory(
    rows: Annotated[int, typer.Option(min=1, help="Rows of the border-crossings extract.")],
    batch_rows: Annotated[int | None, typer.Option(
        min=1, help="Rows read per batch (default: the reader's).")] = None,
) -> Summary:
    """Peak memory and time of `pseudonymise` on a generated extract, in a child process."""
    from benchmarks.bench_memory import run_memory_benchmark
    from pseudonymise.read import BATCH_ROWS

    return figures("bench memory", lambda: run_memory_benchmark(rows, batch_rows or BATCH_ROWS))


@bench.command("accuracy")
@shared_options
def bench_accuracy(
    dataset: Annotated[str, typer.Option(help="febrl4 or synth.")] = "febrl4",
    persons: Annotated[int, typer.Option(min=100, help="Synthetic persons (synth).")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed (synth).")] = 1,
    out: Annotated[Path | None, typer.Option(
        help="Keep the run in this directory (default: a temporary one).")] = None,
) -> Summary:
    """Pair and person precision/recall of the whole pipeline (encode, link) on a dataset."""
    from benchmarks.accuracy import run_accuracy
    from migralink.demo import DATASETS

    if dataset not in DATASETS:
        raise CommandError(f"--dataset must be one of {', '.join(DATASETS)}")
    return figures("bench accuracy", lambda: run_accuracy(dataset, persons, seed, out))


@bench.command("vs-splink")
@shared_options
def bench_vs_splink(
    persons: Annotated[int, typer.Option(min=100, help="Synthetic persons.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    out: Annotated[Path | None, typer.Option(
        help="Keep the run in this directory (default: a temporary one).")] = None,
) -> Summary:
    """migralink on encodings against splink on cleartext, same records: F1, time, memory,
    each side in a child process of its own."""
    from benchmarks.vs_splink import run_vs_splink

    return figures("bench vs-splink", lambda: run_vs_splink(persons, seed, out))


@bench.command("scale")
@shared_options
def bench_scale(
    persons: Annotated[str, typer.Option(
        help="Population sizes, comma-separated (10000,100000,1000000).")] = "10000,100000",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    out: Annotated[Path | None, typer.Option(
        help="Keep each size's run in OUT/<persons> (default: a temporary directory).")] = None,
    memory_limit: Annotated[str, typer.Option(
        help="The hub's DuckDB memory budget (hub.memory_limit).")] = "5GB",
) -> None:
    """The whole job (pseudonymise four sources, link, indicators) at each size: one JSON line
    per size as it ends, with seconds per stage, peak memory, pair F1 and growth."""
    from benchmarks.bench_scale import run_scale
    from migralink.config import MEMORY_SIZE

    sizes = sizes_of(persons)
    if not re.fullmatch(MEMORY_SIZE, memory_limit):
        raise CommandError(f"--memory-limit {memory_limit!r}: not a size", hint="e.g. 5GB")
    with bars() as progress:
        progress.busy(f"bench scale {persons}")
        for line in run_scale(sizes, seed, out, memory_limit):
            typer.echo(json.dumps(line))


def sizes_of(text: str) -> list[int]:
    """'10000,100000' -> [10000, 100000]; CommandError unless rising whole numbers >= 100."""
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",")]
    except ValueError:
        raise CommandError(f"--persons {text!r}: give whole numbers separated by commas",
                           hint="e.g. --persons 10000,100000,1000000") from None
    if min(sizes) < 100 or sizes != sorted(set(sizes)):
        raise CommandError(f"--persons {text!r}: sizes must rise, each at least 100",
                           hint="e.g. --persons 10000,100000,1000000")
    return sizes


@bench.command("compare")
@shared_options
def bench_compare(
    pairs: Annotated[int, typer.Option(min=1, help="Candidate pairs to compare.")] = 20_000_000,
    identities: Annotated[int, typer.Option(
        min=2, help="Encoded identities the pairs are drawn from.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> Summary:
    """Pairs per second of the comparison step alone (the name comparisons' Dice levels on
    Bloom filters), against the same levels as plain divisions, in the same run."""
    from benchmarks.bench_compare import run_compare_benchmark

    return figures("bench compare", lambda: run_compare_benchmark(pairs, identities, seed))


@bench.command("stability")
@shared_options
def bench_stability(
    persons: Annotated[int, typer.Option(min=100, help="Synthetic persons.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    out: Annotated[Path | None, typer.Option(
        help="Keep both runs in this directory (default: a temporary one).")] = None,
    months: Annotated[int, typer.Option(
        min=1, max=60, help="Months left out of the first run's extracts.")] = 1,
) -> Summary:
    """Person ids across two runs: extracts cut a month before the period end, then whole."""
    from benchmarks.stability import run_stability

    return figures("bench stability", lambda: run_stability(persons, seed, out, months))


if __name__ == "__main__":
    sys.exit(app())
