"""The encoding spec (rules/encoding.yaml) as a typed object, and its hash for manifests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from migralink.config import format_validation, load_yaml
from migralink.errors import ConfigError

BirthPrecision = Literal["year", "year_month", "full", "full_transposed"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SALT_FIELDS = ("birth_year", "sex", "nationality")


class BloomSpec(_Spec):
    fields: list[Literal["given_name", "family_name", "address"]]
    qgram: int = Field(2, ge=1, le=4)
    bits: int = Field(256, ge=64, le=4096, multiple_of=64)
    hashes_per_qgram: int = Field(8, ge=1, le=64)
    salt: Literal["none", "birth_year", "sex", "nationality"] = "none"
    balance: bool = False
    flip_probability: float = Field(0.0, ge=0.0, lt=0.5)

    @property
    def words(self) -> int:
        """64-bit words stored per filter (a balanced filter is twice as long)."""
        return self.bits * (2 if self.balance else 1) // 64


class DocumentTokens(_Spec):
    normalise: str


class BirthDateTokens(_Spec):
    precisions: list[BirthPrecision]


class NameKeyTokens(_Spec):
    length: int = Field(6, ge=2, le=12)


class TokenSpec(_Spec):
    documents: DocumentTokens
    birth_date: BirthDateTokens
    name_keys: NameKeyTokens
    name_set: bool = True


class EncodingSpec(_Spec):
    version: int
    tokens: TokenSpec
    bloom: dict[str, BloomSpec]
    codes: dict[str, object]
    sha256: str = ""

    def bloom_for(self, field: str) -> tuple[str, BloomSpec]:
        """The Bloom group (its name is the key purpose) that encodes a name field."""
        for group, spec in self.bloom.items():
            if field in spec.fields:
                return group, spec
        raise KeyError(field)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_spec(path: Path) -> EncodingSpec:
    data = load_yaml(path)
    try:
        spec = EncodingSpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(str(path), format_validation(err)) from None
    return spec.model_copy(update={"sha256": file_sha256(path)})
