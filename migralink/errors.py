"""Exception types. Each carries where the problem is, so the CLI can print one clear line.

Messages never contain identity values (names, birth dates, document numbers): only file,
row, column and a reason code.
"""

from __future__ import annotations


class MigralinkError(Exception):
    """Base class: a problem the user can fix, reported as one line without a traceback."""

    hint: str = ""

    def __init__(self, *args: object, hint: str = "") -> None:
        super().__init__(*args)
        if hint:
            self.hint = hint


class ConfigError(MigralinkError):
    """A config or rules file is missing, malformed or inconsistent."""

    def __init__(self, file: str, message: str):
        self.file = file
        super().__init__(f"{file}: {message}")


class InputError(MigralinkError):
    """A raw extract cannot be read as mapped: names the file and, where known, row and column."""

    def __init__(
        self, file: str, message: str, *, row: int | None = None, column: str | None = None
    ):
        self.file, self.row, self.column = file, row, column
        where = file
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {message}")


class KeyFileError(MigralinkError):
    """The key file is missing, damaged, or the passphrase is wrong."""

    hint = "check --key and the passphrase (environment variable named in the config)"


class LinkageError(MigralinkError):
    """The hub cannot link the encoded extracts as given (mixed keys, missing manifests...)."""
