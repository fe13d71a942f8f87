"""Document numbers: national ID (CNIE), passports by country, residence permits, SSN.

Every number is distinct across all persons and document types (redrawn on collision), so a
shared number in the extracts always means the same true person (or a typo).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.synth.draws import make_unique

# Passport number patterns: "@" a letter, "#" a digit, anything else literal.
PASSPORT_PATTERN: dict[str, str] = {
    "MAR": "@@#######",
    "FRA": "##@@#####",
    "ESP": "@@@######",
    "ITA": "@@#######",
    "SEN": "A########",
    "CIV": "##@@######",
    "GIN": "R#######",
    "MLI": "B########",
    "SYR": "N#########",
    "DZA": "#########",
    "TUN": "Z#######",
    "CMR": "0########",
    "COD": "OB#######",
    "CHN": "E########",
    "NGA": "B########",
}
# CNIE issuing-area prefixes (one or two letters) and how many digits follow.
CNIE_PREFIXES = ("BK", "BE", "BH", "BJ", "BL", "A", "AB", "AD", "AE", "C", "CB", "CD", "D", "DA",
                 "E", "EE", "F", "FA", "G", "GA", "H", "HA", "I", "IA", "J", "JA", "JB", "JC",
                 "K", "L", "M", "N", "P", "PA", "Q", "R", "S", "SH", "T", "U", "V", "W", "X",
                 "Y", "Z")
CNIE_DIGITS = {5: 0.08, 6: 0.62, 7: 0.22, 8: 0.08}
PERMITS_PER_PERSON = 3  # a permit number can change at renewal; three numbers suffice


def from_pattern(pattern: str, n: int, rng: np.random.Generator) -> list[str]:
    """`n` strings following a pattern of letters (@), digits (#) and literals."""
    codes = np.empty((n, len(pattern)), dtype=np.uint8)
    for j, ch in enumerate(pattern):
        if ch == "@":
            codes[:, j] = rng.integers(ord("A"), ord("Z") + 1, n)
        elif ch == "#":
            codes[:, j] = rng.integers(ord("0"), ord("9") + 1, n)
        else:
            codes[:, j] = ord(ch)
    # Rows of ASCII codes viewed as fixed-width byte strings: no Python loop per number.
    return codes.view(f"S{len(pattern)}").ravel().astype(f"U{len(pattern)}").tolist()


def cnie_numbers(n: int, rng: np.random.Generator) -> list[str]:
    prefix = rng.integers(0, len(CNIE_PREFIXES), n)
    digits = rng.choice(list(CNIE_DIGITS), size=n, p=list(CNIE_DIGITS.values()))
    values = rng.random(n)
    return [f"{CNIE_PREFIXES[p]}{int(v * 10**d):0{d}d}"
            for p, d, v in zip(prefix.tolist(), digits.tolist(), values.tolist(), strict=True)]


def passports(nationality: np.ndarray, rng: np.random.Generator) -> list[str]:
    """One passport number per entry, in the format of its country."""
    out = [""] * len(nationality)
    for nat in sorted(set(nationality.tolist())):
        idx = np.flatnonzero(nationality == nat)
        for i, number in zip(idx.tolist(), from_pattern(PASSPORT_PATTERN[nat], idx.size, rng),
                             strict=True):
            out[i] = number
    return out


def permit_numbers(n: int, rng: np.random.Generator) -> list[str]:
    """Residence-permit (carte de séjour) numbers: `P` and nine digits."""
    return from_pattern("P#########", n, rng)


def ssn_numbers(n: int, rng: np.random.Generator) -> list[str]:
    """Social-security registration numbers: nine digits, no leading zero."""
    return [str(v) for v in rng.integers(100_000_000, 1_000_000_000, n).tolist()]


@dataclass
class Documents:
    """Every true document number, indexed by person (row = person_id - 1)."""

    cnie: list[str]                 # "" for foreigners
    passport: list[list[str]]       # two per person: the second replaces the first at a date
    permit: list[list[str]]         # PERMITS_PER_PERSON per person; [] without permits
    ssn: list[str]


def make_documents(nationality: np.ndarray, has_permit: np.ndarray,
                   rng: np.random.Generator) -> Documents:
    """Draw all numbers, then redraw collisions so that every number is distinct."""
    n = len(nationality)
    national = nationality == "MAR"
    nat_idx = np.flatnonzero(national)
    permit_idx = np.flatnonzero(has_permit)
    pass_nat = np.concatenate([nationality, nationality])

    cnie = cnie_numbers(nat_idx.size, rng)
    pass_ = passports(pass_nat, rng)
    permits = permit_numbers(permit_idx.size * PERMITS_PER_PERSON, rng)
    ssn = ssn_numbers(n, rng)

    # One pool for all types; each slice knows how to redraw its own format.
    bounds = np.cumsum([0, len(cnie), len(pass_), len(permits), len(ssn)])

    def redraw(positions: np.ndarray) -> list[str]:
        out = []
        for pos in positions.tolist():
            kind = int(np.searchsorted(bounds, pos, side="right")) - 1
            if kind == 0:
                out.append(cnie_numbers(1, rng)[0])
            elif kind == 1:
                nat = str(pass_nat[pos - bounds[1]])
                out.append(from_pattern(PASSPORT_PATTERN[nat], 1, rng)[0])
            elif kind == 2:
                out.append(permit_numbers(1, rng)[0])
            else:
                out.append(ssn_numbers(1, rng)[0])
        return out

    pool = make_unique(cnie + pass_ + permits + ssn, redraw)
    cnie, pass_ = pool[:bounds[1]], pool[bounds[1]:bounds[2]]
    permits, ssn = pool[bounds[2]:bounds[3]], pool[bounds[3]:]

    cnie_by_person = [""] * n
    for i, number in zip(nat_idx.tolist(), cnie, strict=True):
        cnie_by_person[i] = number
    permit_by_person: list[list[str]] = [[] for _ in range(n)]
    for j, i in enumerate(permit_idx.tolist()):
        permit_by_person[i] = permits[j * PERMITS_PER_PERSON:(j + 1) * PERMITS_PER_PERSON]
    passport = [[pass_[i], pass_[n + i]] for i in range(n)]
    return Documents(cnie_by_person, passport, permit_by_person, ssn)
