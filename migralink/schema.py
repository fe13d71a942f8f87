"""The canonical record schema both sides agree on: source kinds, their event fields, documents.

A producer maps its own column names onto these (configs/*.yaml); the hub reads only these.
"""

from __future__ import annotations

from typing import Literal

SourceKind = Literal["border", "permit", "employment", "placement", "generic"]
DocType = Literal["national_id", "passport", "permit", "ssn"]
DOC_TYPES: tuple[str, ...] = ("national_id", "passport", "permit", "ssn")

# Canonical event fields of each source kind and their types. "date" and "month" are parsed
# with the formats declared in the config; "code" values are mapped through the config's codes.
EVENT_FIELDS: dict[str, dict[str, str]] = {
    "border": {"date": "date", "direction": "code", "border_post": "text"},
    "permit": {"issue_date": "date", "expiry_date": "date", "reason": "code"},
    "employment": {"month": "month", "days_declared": "int", "sector": "text", "wage_band": "text"},
    "placement": {
        "programme": "text",
        "destination": "text",
        "occupation": "text",
        "start_date": "date",
        "end_date": "date",
    },
    "generic": {},
}

# Event fields that may be empty without rejecting the row.
OPTIONAL_EVENT_FIELDS: set[str] = {"border_post", "expiry_date", "end_date", "sector",
                                   "wage_band", "occupation", "destination"}

# Allowed canonical values of coded event fields.
EVENT_CODES: dict[str, set[str]] = {
    "direction": {"in", "out"},
    "reason": {"work", "family", "study", "other"},
}

# Dates of things that have happened: one after the day of encoding is implausible.
# (A permit's expiry or a contract's end may well lie in the future.)
PAST_DATE_FIELDS: set[str] = {"date", "issue_date", "month"}

# Allowed range of integer event fields.
EVENT_RANGES: dict[str, tuple[int, int]] = {"days_declared": (1, 31)}

SEX_CODES = {"M", "F"}
DATE_DIRECTIVES = ("%d", "%m", "%Y")

# Hub-side analyst table holding each kind's events, one row per record, with person_id.
EVENT_TABLES: dict[str, str] = {
    "border": "border_crossings",
    "permit": "residence_permits",
    "employment": "employment_months",
    "placement": "placements",
}

SQL_TYPES = {"date": "DATE", "month": "DATE", "int": "INTEGER", "text": "VARCHAR",
             "code": "VARCHAR"}
