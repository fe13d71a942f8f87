"""True persons: group, sex, nationality, birth date, names and documents (vectorised)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from benchmarks.synth.documents import Documents, make_documents
from benchmarks.synth.draws import Weighted, zipf_weights
from benchmarks.synth.names import NATIONALITY_ORIGIN, ORIGINS
from benchmarks.synth.timeline import EPOCH64, LAST_DAY, NEVER

# Approximate shares of the population; counts are rounded so they add up exactly.
GROUP_SHARES: dict[str, float] = {
    "national_stayer": 0.50,
    "national_diaspora": 0.08,
    "national_placed_abroad": 0.07,
    "return_migrant": 0.03,
    "foreign_worker": 0.12,
    "foreign_family": 0.03,
    "foreign_student": 0.03,
    "visitor": 0.14,
}
GROUPS = tuple(GROUP_SHARES)
NATIONAL_GROUPS = ("national_stayer", "national_diaspora", "national_placed_abroad",
                   "return_migrant")
PERMIT_GROUPS = ("foreign_worker", "foreign_family", "foreign_student")
COUNTRY = "MAR"
EXEMPT_NATIONALITIES = ("DZA", "SEN", "TUN")  # no work-contract approval needed

FOREIGN_NATIONALITIES = Weighted({
    "SEN": 18, "CIV": 17, "FRA": 14, "GIN": 5, "SYR": 3, "MLI": 8, "DZA": 6, "TUN": 5,
    "ESP": 5, "CMR": 6, "COD": 5, "CHN": 4, "NGA": 2, "ITA": 2,
})
VISITOR_NATIONALITIES = Weighted({
    "FRA": 30, "ESP": 17, "ITA": 9, "DZA": 9, "TUN": 7, "SEN": 6, "CIV": 4, "CHN": 5, "GIN": 2,
    "MLI": 3, "CMR": 2, "COD": 2, "NGA": 2, "SYR": 2,
})
SEASONAL_SHARE = 0.6  # of national_placed_abroad: the seasonal agricultural programme

# Share of men by group ("seasonal" and "regular" split national_placed_abroad).
MALE_SHARE: dict[str, float] = {
    "national_stayer": 0.5, "national_diaspora": 0.55, "seasonal": 0.08, "regular": 0.72,
    "return_migrant": 0.7, "foreign_worker": 0.76, "foreign_family": 0.3,
    "foreign_student": 0.55, "visitor": 0.55,
}
# Age on 2019-01-01: mean, standard deviation, bounds.
AGE: dict[str, tuple[float, float, int, int]] = {
    "national_stayer": (38, 12, 18, 65), "national_diaspora": (40, 13, 18, 65),
    "seasonal": (34, 6, 20, 45), "regular": (31, 7, 20, 55), "return_migrant": (40, 10, 22, 65),
    "foreign_worker": (32, 8, 18, 60), "foreign_family": (33, 10, 18, 65),
    "foreign_student": (23, 3, 18, 28), "visitor": (42, 13, 18, 75),
}
YEAR_ONLY_SHARE = 0.3        # of persons born before 1975 where registration came late
YEAR_ONLY_BEFORE = 1975
# Civil registration was universal early in these countries: no year-only birth dates.
FULL_REGISTRATION = ("FRA", "ESP", "ITA", "CHN")
# Zipf exponents: given names are concentrated (Mohamed, Fatima), family names less so.
GIVEN_ZIPF = 1.0
FAMILY_ZIPF = 0.5
PASSPORT_RENEWAL = {"national": 0.10, "foreign": 0.20}  # new passport during the period


@dataclass
class Population:
    """True attributes of every person; row i is person_id i + 1."""

    person_id: np.ndarray
    group: np.ndarray            # group names (object)
    seasonal: np.ndarray         # bool: placed abroad on the seasonal programme
    sex: np.ndarray              # "M" / "F"
    nationality: np.ndarray      # ISO3
    birth: np.ndarray            # datetime64[D]; 1 January for year-only persons
    year_only: np.ndarray        # bool
    name_rules: np.ndarray       # spelling ruleset of the person's names
    given: np.ndarray
    family: np.ndarray
    docs: Documents
    passport_switch: np.ndarray  # day the second passport replaces the first (NEVER if not)

    def __len__(self) -> int:
        return len(self.person_id)

    @property
    def birth_year(self) -> np.ndarray:
        return self.birth.astype("datetime64[Y]").astype(int) + 1970

    @property
    def national(self) -> np.ndarray:
        return self.nationality == COUNTRY

    @cached_property
    def birth_ymd(self) -> list[tuple[int, int, int]]:
        """Birth dates as (year, month, day) tuples, for fast per-person formatting."""
        month_start = self.birth.astype("datetime64[M]")
        years = self.birth_year.tolist()
        months = (month_start.astype(int) % 12 + 1).tolist()
        days = ((self.birth - month_start.astype("datetime64[D]")).astype(int) + 1).tolist()
        return list(zip(years, months, days, strict=True))


def group_counts(persons: int) -> dict[str, int]:
    """Persons per group: shares rounded by largest remainder so they sum to `persons`."""
    raw = np.array(list(GROUP_SHARES.values())) * persons
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: persons - counts.sum()]] += 1
    return dict(zip(GROUPS, counts.tolist(), strict=True))


def _profiles(group: np.ndarray, seasonal: np.ndarray) -> np.ndarray:
    """Group, with national_placed_abroad split into seasonal / regular."""
    out = group.copy()
    placed = group == "national_placed_abroad"
    out[placed & seasonal] = "seasonal"
    out[placed & ~seasonal] = "regular"
    return out


def _nationalities(group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    nat = np.full(len(group), COUNTRY, dtype=object)
    foreign = np.isin(group, PERMIT_GROUPS)
    visitor = group == "visitor"
    nat[foreign] = FOREIGN_NATIONALITIES.sample(rng, int(foreign.sum()))
    nat[visitor] = VISITOR_NATIONALITIES.sample(rng, int(visitor.sum()))
    return nat


def _births(profile: np.ndarray, nationality: np.ndarray,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Birth dates from group-specific ages; some older persons only have a birth year."""
    age = np.empty(len(profile))
    for name, (mean, sd, lo, hi) in AGE.items():
        idx = np.flatnonzero(profile == name)
        drawn = rng.normal(mean, sd, idx.size)
        # Redraw out-of-range ages uniformly: clipping would pile births on one date.
        outside = (drawn < lo) | (drawn >= hi + 1)
        age[idx] = np.where(outside, rng.uniform(lo, hi + 1, idx.size), drawn)
    birth = EPOCH64 - np.round(age * 365.25).astype("timedelta64[D]")
    year = birth.astype("datetime64[Y]")
    year_only = ((year.astype(int) + 1970 < YEAR_ONLY_BEFORE)
                 & ~np.isin(nationality, FULL_REGISTRATION)
                 & (rng.random(len(profile)) < YEAR_ONLY_SHARE))
    birth = np.where(year_only, year.astype("datetime64[D]"), birth)
    return birth, year_only


def _names(sex: np.ndarray, nationality: np.ndarray,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Given and family names drawn from the pools of each person's name origin."""
    n = len(sex)
    origin = np.empty(n, dtype=object)
    for nat in sorted(set(nationality.tolist())):
        idx = np.flatnonzero(nationality == nat)
        origin[idx] = Weighted(NATIONALITY_ORIGIN[nat]).sample(rng, idx.size)
    given = np.empty(n, dtype=object)
    family = np.empty(n, dtype=object)
    rules = np.empty(n, dtype=object)
    for key in sorted(set(origin.tolist())):
        pools = ORIGINS[key]
        for sx, pool in (("M", pools.male), ("F", pools.female)):
            idx = np.flatnonzero((origin == key) & (sex == sx))
            given[idx] = np.asarray(pool, dtype=object)[
                rng.choice(len(pool), idx.size, p=zipf_weights(len(pool), GIVEN_ZIPF))]
        idx = np.flatnonzero(origin == key)
        family[idx] = np.asarray(pools.family, dtype=object)[
            rng.choice(len(pools.family), idx.size, p=zipf_weights(len(pools.family), FAMILY_ZIPF))]
        rules[idx] = pools.rules
    return given, family, rules


def build_population(persons: int, rng: np.random.Generator) -> Population:
    """Draw every person's true attributes, names and document numbers."""
    counts = group_counts(persons)
    group = rng.permutation(np.repeat(np.array(GROUPS, dtype=object), list(counts.values())))
    seasonal = (group == "national_placed_abroad") & (rng.random(persons) < SEASONAL_SHARE)
    profile = _profiles(group, seasonal)
    male_share = np.array([MALE_SHARE[p] for p in profile.tolist()])
    sex = np.where(rng.random(persons) < male_share, "M", "F").astype(object)
    nationality = _nationalities(group, rng)
    birth, year_only = _births(profile, nationality, rng)
    given, family, rules = _names(sex, nationality, rng)
    docs = make_documents(nationality, np.isin(group, PERMIT_GROUPS), rng)
    renewal = np.where(nationality == COUNTRY, PASSPORT_RENEWAL["national"],
                       PASSPORT_RENEWAL["foreign"])
    switch = np.where(rng.random(persons) < renewal,
                      rng.integers(30, LAST_DAY - 30, persons), NEVER)
    return Population(
        person_id=np.arange(1, persons + 1, dtype=np.int64), group=group, seasonal=seasonal,
        sex=sex, nationality=nationality, birth=birth, year_only=year_only, name_rules=rules,
        given=given, family=family, docs=docs, passport_switch=switch,
    )
