"""The encoding spec (rules/encoding.yaml) as a typed object, and its hash for manifests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from migralink.config import format_validation, load_yaml
from migralink.errors import ConfigError

BirthPrecision = Literal["year", "year_month", "full", "full_transposed", "day_month"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SALT_FIELDS = ("birth_year", "sex", "nationality", "birth_date")
# Salts the hub sees in clear at every record; any other salt goes out as a token.
CLEAR_SALTS = ("birth_year", "sex", "nationality")
# Identity flips: bit positions double-hashed from one HMAC-SHA256 digest per record
# (16 bytes per name field, so a group may flip at most two fields).
MAX_IDENTITY_FLIPS = 16


class BloomSpec(_Spec):
    fields: list[Literal["given_name", "family_name", "address"]]
    qgram: int = Field(2, ge=1, le=4)
    bits: int = Field(256, ge=64, le=4096, multiple_of=64)
    hashes_per_qgram: int = Field(8, ge=1, le=64)
    salt: Literal["none", "birth_year", "sex", "nationality", "birth_date"] = "none"
    balance: bool = False
    flip_probability: float = Field(0.0, ge=0.0, lt=0.5)
    identity_flips: int = Field(0, ge=0, le=MAX_IDENTITY_FLIPS)

    @model_validator(mode="after")
    def _flips_need_names(self) -> BloomSpec:
        if self.identity_flips and not {"given_name", "family_name"} & set(self.fields):
            raise ValueError("identity_flips: the identity is made of the names; this group "
                             f"encodes {self.fields}")
        return self

    @property
    def words(self) -> int:
        """64-bit words stored per filter (a balanced filter is twice as long)."""
        return self.bits * (2 if self.balance else 1) // 64


DocumentType = Literal["national_id", "passport", "permit", "ssn"]


class DocumentTokens(_Spec):
    normalise: str
    # Types that also get `tok_<type>_near`: tokens of the number with each character left
    # out in turn (and of the whole number), so numbers one keying error apart share one.
    near: list[DocumentType] = []


class BirthDateTokens(_Spec):
    precisions: list[BirthPrecision]


KeyPart = Literal["birth_date", "birth_year", "given_key", "family_key", "name_keys"]


class NameKeyTokens(_Spec):
    """Phonetic name keys (blocking) go out only inside tokens of combined parts (`combine`:
    token name -> parts): a key joined with a birth date is nearly unique to a person, where
    the key alone is as frequent as its name."""

    length: int = Field(6, ge=2, le=12)
    combine: dict[str, list[KeyPart]] = Field(min_length=1)

    @model_validator(mode="after")
    def _keys_never_alone(self) -> NameKeyTokens:
        for name, parts in self.combine.items():
            if not {"given_key", "family_key", "name_keys"} & set(parts):
                raise ValueError(f"name_keys.combine.{name}: no name key among {parts}")
            if len(set(parts)) != len(parts):
                raise ValueError(f"name_keys.combine.{name}: a part twice in {parts}")
        return self


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
