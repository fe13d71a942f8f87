"""Job configuration: validated on load into typed objects; nothing downstream re-checks it.

A job config (configs/*.yaml) says where each producer's raw extract is, how its columns map
onto the canonical schema (migralink.schema), which key and rules to use, and where outputs go.
Relative paths are resolved against `workdir`; rule paths against the rules directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from migralink.errors import ConfigError
from migralink.schema import DATE_DIRECTIVES, DOC_TYPES, EVENT_FIELDS, DocType, SourceKind

PACKAGE_DIR = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    """`rules/` and `configs/` sit at the repository root (editable install) or in the package."""
    packaged = PACKAGE_DIR / name
    return packaged if packaged.is_dir() else PACKAGE_DIR.parent / name


RULES_DIR = _data_dir("rules")
CONFIGS_DIR = _data_dir("configs")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """One raw column mapped onto a canonical field. A bare string in YAML means `column`."""

    column: str
    type: Literal["text", "code", "date", "month", "int"] = "text"
    formats: list[str] = Field(default_factory=list)
    codes: dict[str, str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        return {"column": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _formats(self) -> FieldSpec:
        if self.type in ("date", "month") and not self.formats:
            raise ValueError(f"column '{self.column}': a {self.type} needs `formats`")
        for fmt in self.formats:
            rest = fmt
            for directive in DATE_DIRECTIVES:
                rest = rest.replace(directive, "")
            if "%" in rest or "%Y" not in fmt:
                raise ValueError(f"column '{self.column}': date format '{fmt}' must use %Y, "
                                 "and may use %m and %d")
        return self


class DocumentSpec(_Strict):
    """A document number column; its type is fixed (`type`) or read from `type_column`."""

    number: str
    type: DocType | None = None
    type_column: str | None = None
    types: dict[str, DocType] | None = None

    @model_validator(mode="after")
    def _one_way_to_type(self) -> DocumentSpec:
        if (self.type is None) == (self.type_column is None):
            raise ValueError("give either `type` or `type_column` (with `types`)")
        if self.type_column is not None and not self.types:
            raise ValueError("`type_column` needs `types`: raw value -> document type")
        return self


class IdentitySpec(_Strict):
    given_name: FieldSpec | None = None
    family_name: FieldSpec | None = None
    sex: FieldSpec | None = None
    birth_date: FieldSpec | None = None
    nationality: FieldSpec | None = None
    address: list[str] | None = None  # columns joined with a space (street, locality...)
    documents: list[DocumentSpec] = Field(default_factory=list)


class SourceConfig(_Strict):
    kind: SourceKind
    file: Path
    format: Literal["csv", "parquet", "xlsx"] = "csv"
    separator: str = ","  # or "auto": whichever of ; , tab | splits the header most
    encoding: str = "auto"  # auto: UTF-8 (with or without BOM), else Windows-1252; never mixed
    record_id: str
    identity: IdentitySpec
    events: dict[str, FieldSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _record_id_is_not_identity(self) -> SourceConfig:
        # the record id travels to the hub in clear: it must not be a name or a document
        identity = self.identity_columns()
        if self.record_id in identity:
            raise ValueError(f"record_id '{self.record_id}' is an identity column; it would "
                             "reach the hub in clear. Use a record or line number")
        for name, spec in self.events.items():
            if spec.column in identity:
                raise ValueError(f"event field '{name}' reads identity column '{spec.column}'; "
                                 "event fields reach the hub in clear")
        return self

    @model_validator(mode="after")
    def _events_match_kind(self) -> SourceConfig:
        expected = EVENT_FIELDS[self.kind]
        unknown = sorted(set(self.events) - set(expected))
        missing = sorted(set(expected) - set(self.events))
        if unknown:
            raise ValueError(f"events {unknown} are not fields of a '{self.kind}' source")
        if missing:
            raise ValueError(f"a '{self.kind}' source needs event fields {missing}")
        return self

    def identity_columns(self) -> list[str]:
        """The raw columns that carry identity (names, birth date, documents...)."""
        ident = self.identity
        cols = [s.column for s in (ident.given_name, ident.family_name, ident.sex,
                                   ident.birth_date, ident.nationality) if s is not None]
        cols += ident.address or []
        for doc in ident.documents:
            cols += [doc.number] + ([doc.type_column] if doc.type_column else [])
        return cols

    def raw_columns(self) -> list[str]:
        """Every raw column this mapping reads, in a stable order."""
        cols = [self.record_id, *self.identity_columns()]
        cols += [spec.column for spec in self.events.values()]
        return list(dict.fromkeys(cols))


class KeyConfig(_Strict):
    file: Path
    passphrase_env: str = "MIGRALINK_PASSPHRASE"


class MaxLength(_Strict):
    """Longest plausible value of an identity field, in characters: a longer one is a broken
    export (or a field run into the next), and its row is rejected with `too_long(column)`."""

    given_name: int = Field(100, ge=1)
    family_name: int = Field(100, ge=1)
    document: int = Field(30, ge=1)   # each document number column
    address: int = Field(200, ge=1)   # each address column


class IdentityInClearStop(_Strict):
    """A row whose record id or clear event field equals one of its own identity values is
    rejected (`identity_in_clear(column)`); when more than `share` of a batch's rows, and at
    least `rows` rows, are, the mapping is wrong and the job stops naming the column."""

    share: float = Field(0.01, ge=0, le=1)
    rows: int = Field(10, ge=1)


class ValidationConfig(_Strict):
    oldest_age: int = Field(120, ge=1, le=200)  # a birth date older than this is implausible
    max_length: MaxLength = MaxLength()
    identity_in_clear: IdentityInClearStop = IdentityInClearStop()


class SparkConfig(_Strict):
    """Spark, when the model runs there (`engine: spark`): local on this machine, or the
    cluster at `master`. The driver's temporary files (shuffles, spills, the data handed to
    Spark) go to a private directory made under `local_dir` and removed when the job ends."""
    master: str = "local[*]"          # or a cluster URL: spark://host:7077, yarn, k8s://...
    local_dir: Path | None = None     # absolute; default: the system's temporary directory
    # Spark settings over linkage.spark's defaults (spark.driver.memory 2g; locally, a
    # shuffle partition a core), e.g. {spark.executor.memory: 8g}
    conf: dict[str, str] = Field(default_factory=dict)

    @field_validator("local_dir")
    @classmethod
    def _absolute(cls, local_dir: Path | None) -> Path | None:
        if local_dir is not None and not local_dir.is_absolute():
            raise ValueError(f"'{local_dir}' must be an absolute path")
        return local_dir

    @field_validator("conf", mode="before")
    @classmethod
    def _conf_as_text(cls, conf: Any) -> Any:
        # YAML reads `spark.sql.shuffle.partitions: 8` as a number; Spark takes text
        if isinstance(conf, dict):
            return {k: str(v).lower() if isinstance(v, bool) else str(v)
                    for k, v in conf.items()}
        return conf


MEMORY_SIZE = r"\d+(\.\d+)?\s*(MB|GB|MiB|GiB)"  # a memory budget: 2GB, 512 MiB


class HubConfig(_Strict):
    """The hub's DuckDB: a memory budget it keeps to (spilling to a temporary directory beyond
    it) instead of DuckDB's default of 80 % of the machine's memory, and its threads. The
    model (block, compare, train, predict) runs on `engine`: this DuckDB, or Spark; all
    else runs on DuckDB either way."""
    memory_limit: str = Field("2GB", pattern=rf"^{MEMORY_SIZE}$")
    threads: int | None = Field(None, ge=1)
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkConfig = SparkConfig()


class PathsConfig(_Strict):
    raw: Path = Path("raw")
    encoded: Path = Path("encoded")
    producers: Path = Path("producers")
    outputs: Path = Path(".")
    truth: Path | None = None


class JobConfig(_Strict):
    name: str
    workdir: Path
    country: str = Field(pattern=r"^[A-Z]{3}$")
    period: tuple[str, str] = ("2019-01", "2025-12")
    key: KeyConfig
    encoding: Path = Path("encoding.yaml")
    linkage: Path = Path("linkage/default.yaml")
    residence: Path = Path("residence.yaml")      # in rules/: timeline and residence rules
    indicators: Path | None = Path("indicators")
    disclosure: Path = Path("disclosure.yaml")    # in rules/: protection of published tables
    sdmx: Path = Path("sdmx.yaml")                # in rules/: codes of the SDMX-CSV files
    labels: Path | None = None        # clerical labels (linkage/labels.py), under workdir
    paths: PathsConfig = PathsConfig()
    validation: ValidationConfig = ValidationConfig()
    hub: HubConfig = HubConfig()
    sources: dict[str, SourceConfig]

    @field_validator("sources")
    @classmethod
    def _source_names(cls, sources: dict[str, SourceConfig]) -> dict[str, SourceConfig]:
        for name in sources:
            if not name.isidentifier():
                raise ValueError(f"source name '{name}' must be a plain identifier")
        return sources

    def at(self, path: Path) -> Path:
        """Resolve a path from the config against the work directory."""
        return path if path.is_absolute() else self.workdir / path

    def rule(self, path: Path) -> Path:
        """Resolve a rules path against the rules directory."""
        return path if path.is_absolute() else RULES_DIR / path

    def source(self, name: str) -> SourceConfig:
        if name not in self.sources:
            raise ConfigError(self.name, f"no source '{name}'; sources are {sorted(self.sources)}")
        return self.sources[name]

    def encoded_file(self, source: str) -> Path:
        return self.at(self.paths.encoded) / f"{source}.parquet"

    def manifest_file(self, source: str) -> Path:
        return self.at(self.paths.encoded) / f"{source}.manifest.json"

    def rejects_file(self, source: str) -> Path:
        return self.at(self.paths.producers) / source / "rejects.csv"

    @property
    def outputs_dir(self) -> Path:
        return self.at(self.paths.outputs)


def format_validation(err: ValidationError, most: int = 3) -> str:
    """Pydantic errors as one line: where and what, for the first few."""
    parts = []
    for error in err.errors()[:most]:
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    more = f" (and {err.error_count() - most} more)" if err.error_count() > most else ""
    return "; ".join(parts) + more


def load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found") from None
    except IsADirectoryError:
        raise ConfigError(str(path), "is a directory, not a file") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "syntax error"
        raise ConfigError(str(path), f"not valid YAML{where}: {problem}") from None


def load_config(path: Path | str, workdir: Path | str | None = None) -> JobConfig:
    """Read and validate a job config; `workdir` overrides the config's own."""
    path = Path(path)
    if not path.exists() and (CONFIGS_DIR / path.name).exists():
        path = CONFIGS_DIR / path.name
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(str(path), "expected a mapping at the top level")
    data.setdefault("name", path.stem)
    if workdir is not None:
        data["workdir"] = str(workdir)
    try:
        return JobConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(str(path), format_validation(err)) from None


__all__ = ["DOC_TYPES", "JobConfig", "SourceConfig", "FieldSpec", "load_config", "RULES_DIR"]
