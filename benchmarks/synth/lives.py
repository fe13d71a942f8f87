"""Life histories, 2019-2025: presence spells, border crossings, jobs, permits and placements.

A person's presence is a base pattern of long stays (arrival, departure, placements abroad)
with short stays inside them (trips abroad, visits home). Crossings happen exactly at presence
changes; jobs, permits and placements only on days the person is in the country. Day numbers
are days since 2019-01-01; a change on day d starts the new spell on d (the crossing date).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from benchmarks.synth.documents import PERMITS_PER_PERSON
from benchmarks.synth.draws import Stream, Weighted
from benchmarks.synth.population import EXEMPT_NATIONALITIES, Population
from benchmarks.synth.timeline import LAST_DAY, YEARS, add_years, day, year_of

IN, ABROAD = "in", "abroad"

# --- Parameters ------------------------------------------------------------------------------

EMPLOYED_STAYER = {"M": 0.85, "F": 0.6}      # formal employment is lower among women
SUMMER_VISIT = {2019: 0.85, 2020: 0.1, 2021: 0.45, 2022: 0.8, 2023: 0.85, 2024: 0.85,
                2025: 0.85}                  # borders closed in 2020, restricted in 2021
FIRST_SEASON = Weighted({2019: 3, 2020: 1, 2021: 1.5, 2022: 2.5, 2023: 3, 2024: 3, 2025: 3})
REPEAT_SEASON = {y: (0.3 if y == 2020 else 0.6) for y in YEARS}
SEASON_NO_RETURN = 0.08
REGULAR_PROGRAMMES = Weighted({"REGULAR_FRA": 30, "REGULAR_ESP": 20, "REGULAR_DEU": 20,
                               "GULF_QAT": 15, "GULF_SAU": 15})
DESTINATION = {"REGULAR_FRA": "FRA", "REGULAR_ESP": "ESP", "REGULAR_DEU": "DEU",
               "GULF_QAT": "QAT", "GULF_SAU": "SAU"}
PROGRAMME_ISCO = {
    "REGULAR_FRA": Weighted({"6": 35, "9": 25, "7": 20, "5": 20}),
    "REGULAR_ESP": Weighted({"9": 40, "7": 30, "5": 30}),
    "REGULAR_DEU": Weighted({"2": 35, "3": 25, "7": 25, "5": 15}),
    "GULF_QAT": Weighted({"5": 40, "7": 25, "8": 20, "2": 15}),
    "GULF_SAU": Weighted({"5": 35, "7": 25, "8": 20, "9": 10, "2": 10}),
}
PRESENT_BEFORE = {"foreign_worker": 0.33, "foreign_family": 0.4, "foreign_student": 0.3}
LEAVES = {"foreign_worker": 0.3, "foreign_family": 0.15}
STUDENT_LEAVES = 0.75
DECLARED = {"foreign_family": 0.3, "foreign_student": 0.2}  # ever declared at social security
VISIT_HOME = {"foreign_worker": 0.4, "foreign_family": 0.3, "foreign_student": 0.5}
REASON = {"foreign_worker": "TRAVAIL", "foreign_family": "FAMILLE", "foreign_student": "ETUDES"}
VISITS = Weighted({1: 60, 2: 28, 3: 12})

SECTORS = {
    "national": Weighted({"C": 18, "G": 14, "F": 12, "N": 8, "A": 7, "H": 6, "I": 6, "Q": 5,
                          "P": 4, "M": 4, "K": 3, "J": 3, "O": 3, "S": 3, "T": 2, "E": 1, "D": 1}),
    "foreign": Weighted({"F": 22, "N": 18, "I": 14, "A": 9, "G": 10, "T": 7, "J": 6, "C": 6,
                         "M": 4, "P": 2, "Q": 2}),
    "europe": Weighted({"M": 18, "J": 15, "N": 15, "P": 12, "I": 10, "G": 10, "K": 8, "Q": 6,
                        "C": 6}),
    "china": Weighted({"G": 50, "C": 25, "I": 15, "F": 10}),
    "syria": Weighted({"G": 30, "I": 25, "C": 15, "F": 15, "N": 15}),
}
BANDS = {
    "national": Weighted({"B1": 25, "B2": 30, "B3": 22, "B4": 12, "B5": 7, "B6": 4}),
    "foreign": Weighted({"B1": 30, "B2": 32, "B3": 20, "B4": 10, "B5": 5, "B6": 3}),
    "europe": Weighted({"B1": 5, "B2": 10, "B3": 20, "B4": 25, "B5": 22, "B6": 18}),
}
SECTOR_KIND = {"FRA": "europe", "ESP": "europe", "ITA": "europe", "CHN": "china", "SYR": "syria"}
SECTOR_ISCO = {
    "F": Weighted({"7": 60, "9": 40}), "A": Weighted({"9": 70, "6": 30}),
    "I": Weighted({"5": 80, "9": 20}), "N": Weighted({"4": 70, "5": 20, "3": 10}),
    "J": Weighted({"2": 50, "3": 40, "4": 10}), "T": Weighted({"9": 1}),
    "G": Weighted({"5": 70, "4": 20, "1": 10}), "C": Weighted({"8": 50, "7": 40, "2": 10}),
    "M": Weighted({"2": 60, "3": 30, "1": 10}), "P": Weighted({"2": 1}),
    "Q": Weighted({"2": 60, "3": 40}), "K": Weighted({"2": 50, "3": 30, "4": 20}),
}

POSTS = {
    "national": Weighted({"CMN-AIR": 30, "TNG-MED": 15, "RAK-AIR": 8, "TNG-PORT": 8,
                          "NDR-BNI-ANSAR": 8, "FEZ-AIR": 6, "OUJ-AIR": 5, "AGA-AIR": 5,
                          "RBA-AIR": 5, "BAB-SEBTA": 5, "BENI-ENSAR": 5}),
    "diaspora": Weighted({"TNG-MED": 35, "CMN-AIR": 15, "NDR-BNI-ANSAR": 12, "TNG-PORT": 8,
                          "OUJ-AIR": 6, "FEZ-AIR": 6, "NDR-AIR": 6, "RAK-AIR": 4, "AGA-AIR": 4,
                          "BENI-ENSAR": 4}),
    "seasonal": Weighted({"TNG-MED": 75, "TNG-PORT": 25}),
    "west_africa": Weighted({"CMN-AIR": 70, "GUERGUERAT": 25, "RAK-AIR": 5}),
    "europe": Weighted({"CMN-AIR": 30, "RAK-AIR": 20, "TNG-MED": 15, "AGA-AIR": 10,
                        "TNG-AIR": 8, "FEZ-AIR": 7, "TNG-PORT": 5, "RBA-AIR": 5}),
    "air": Weighted({"CMN-AIR": 45, "RAK-AIR": 20, "AGA-AIR": 8, "TNG-AIR": 7, "FEZ-AIR": 7,
                     "RBA-AIR": 7, "OUJ-AIR": 6}),
}
POST_PROFILE = {"SEN": "west_africa", "GIN": "west_africa", "MLI": "west_africa",
                "FRA": "europe", "ESP": "europe", "ITA": "europe"}

# --- Event tables ----------------------------------------------------------------------------


class Table:
    """Append-only columns, one Python list each."""

    def __init__(self, *columns: str) -> None:
        self.columns = columns
        self.data: tuple[list, ...] = tuple([] for _ in columns)

    def add(self, *values: object) -> None:
        for column, value in zip(self.data, values, strict=True):
            column.append(value)

    def as_dict(self) -> dict[str, list]:
        return dict(zip(self.columns, self.data, strict=True))

    def __len__(self) -> int:
        return len(self.data[0])


@dataclass
class Events:
    """Everything that happened to every person, as columns."""

    spells: Table = field(default_factory=lambda: Table("pid", "start", "end", "place"))
    crossings: Table = field(default_factory=lambda: Table("pid", "day", "direction", "post"))
    jobs: Table = field(default_factory=lambda: Table("pid", "start", "end", "sector", "band",
                                                      "part_time"))
    permits: Table = field(default_factory=lambda: Table("pid", "issue", "expiry", "reason",
                                                         "number"))
    placements: Table = field(default_factory=lambda: Table("pid", "start", "end", "programme",
                                                            "destination", "isco"))


Stay = tuple[int, int]  # (day leaving the base place, day back in it)


def flatten(stays: list[Stay]) -> list[int]:
    return [d for stay in stays for d in stay]


# --- Simulation ------------------------------------------------------------------------------


class Simulator:
    """Builds each person's history in turn from one stream of draws."""

    def __init__(self, pop: Population, rng: np.random.Generator) -> None:
        self.pop = pop
        self.s = Stream(rng)
        self.ev = Events()

    def run(self) -> Events:
        """Simulate every person in person order."""
        handlers = {
            "national_stayer": self.stayer, "national_diaspora": self.diaspora,
            "national_placed_abroad": self.placed, "return_migrant": self.returner,
            "foreign_worker": self.foreigner, "foreign_family": self.foreigner,
            "foreign_student": self.foreigner, "visitor": self.visitor,
        }
        for i, group in enumerate(self.pop.group.tolist()):
            handlers[group](i)
        return self.ev

    # -- building blocks --

    def life(self, pid: int, place0: str, changes: list[int], posts: Weighted) -> None:
        """Record spells and one crossing per presence change (changes sorted, in period)."""
        changes = sorted(changes)
        if changes and (changes[0] < 1 or changes[-1] > LAST_DAY
                        or any(a >= b for a, b in zip(changes, changes[1:], strict=False))):
            raise ValueError(f"person {pid}: presence changes out of order: {changes}")
        place, start = place0, 0
        for d in changes:
            self.ev.spells.add(pid, start, d - 1, place)
            self.ev.crossings.add(pid, d, "S" if place == IN else "E", posts.draw(self.s))
            place, start = (ABROAD if place == IN else IN), d
        self.ev.spells.add(pid, start, None, place)

    def stay(self, segment: Stay, taken: list[Stay], lo: int, hi: int,
             anchors: list[int] | tuple[int, ...] = (), window: Stay | None = None,
             margin: int = 3, attempts: int = 3) -> None:
        """Try to add a short stay of lo..hi days inside `segment` (days in the base place)."""
        s = self.s
        a, b = segment
        if window is not None:
            a, b = max(a, window[0]), min(b, window[1])
        for _ in range(attempts):
            length = s.between(lo, hi)
            first, last = a + margin, b - margin - length
            if last < first:
                continue
            t = s.between(first, last)
            r = t + length
            clash = any(t <= y + margin and r >= x - margin for x, y in taken)
            if clash or any(t - 1 <= d <= r for d in anchors):
                continue
            taken.append((t, r))
            return

    def jobs(self, pid: int, start: int, last: int, kind: str, mean_days: float,
             gap: tuple[int, int] = (30, 300)) -> list[tuple[int, int, str]]:
        """Consecutive jobs from `start` while present until `last` (LAST_DAY: open-ended)."""
        s = self.s
        open_end = last >= LAST_DAY
        sectors = SECTORS[kind]
        bands = BANDS.get(kind, BANDS["foreign"])
        out: list[tuple[int, int, str]] = []
        t = start
        while t <= last - 60:
            end = t + 60 + int(s.exp(mean_days))
            if end >= last:
                end = LAST_DAY if open_end else last - s.between(0, 20)
            if end - t < 30:
                break
            sector = sectors.draw(s)
            self.ev.jobs.add(pid, t, end, sector, bands.draw(s), s.chance(0.12))
            out.append((t, end, sector))
            if end >= LAST_DAY:
                break
            t = end + s.between(*gap)
        return out

    def permits(self, pid: int, first: int, last: int, reason: str) -> list[int]:
        """A permit issued on `first`, renewed shortly before each expiry while present."""
        s = self.s
        issue, number, issues = first, 0, []
        while issue <= last:
            # A ten-year long-stay card after several renewals, else one or two years.
            long_stay = len(issues) >= 3 and s.chance(0.2)
            years = 10 if long_stay else (2 if s.chance(0.12) else 1)
            expiry = add_years(issue, years)
            self.ev.permits.add(pid, issue, expiry, reason, number)
            issues.append(issue)
            if s.chance(0.12):  # a new card number at renewal
                number = min(number + 1, PERMITS_PER_PERSON - 1)
            issue = expiry - s.between(0, 45)
        return issues

    def approvals(self, pid: int, first_permit: int | None,
                  jobs: list[tuple[int, int, str]]) -> None:
        """Hiring approvals: before the first permit, and for some later job changes."""
        s = self.s
        for k in range(max(len(jobs), 1)):
            sector = jobs[k][2] if jobs else SECTORS["foreign"].draw(s)
            if k == 0 and first_permit is not None:
                when = first_permit - s.between(3, 45)
            elif k > 0 and s.chance(0.5):
                when = jobs[k][0] - s.between(3, 30)
            else:
                continue
            end = None if s.chance(0.2) else add_years(when, s.between(1, 2))
            self.ev.placements.add(pid, when, end, "HIRING_FOREIGN", "MAR",
                                   SECTOR_ISCO.get(sector, SECTOR_ISCO["T"]).draw(s))

    # -- groups --

    def stayer(self, i: int) -> None:
        """Lives at home; most work (jobs with gaps); some take short trips abroad."""
        s, pid = self.s, i + 1
        if s.chance(EMPLOYED_STAYER[self.pop.sex[i]]):
            start = 0 if s.chance(0.75) else s.between(30, 900)
            self.jobs(pid, start, LAST_DAY, "national", 1000)
        taken: list[Stay] = []
        if s.chance(0.2):  # tourism abroad
            for _ in range(s.between(1, 4)):
                self.stay((0, LAST_DAY), taken, 3, 20)
        self.life(pid, IN, flatten(taken), POSTS["national"])

    def diaspora(self, i: int) -> None:
        """Lives abroad; visits in summer most years (none in 2020, few in 2021)."""
        s, pid = self.s, i + 1
        visits = []
        for y in YEARS:
            if s.chance(SUMMER_VISIT[y]):
                entry = day(y, 7, 1) + s.between(0, 50)
                visits.append((entry, entry + s.between(14, 42)))
        self.life(pid, ABROAD, flatten(visits), POSTS["diaspora"])

    def returner(self, i: int) -> None:
        """Lives abroad, comes back for good during the period, then mostly works at home."""
        s, pid = self.s, i + 1
        back = s.between(60, LAST_DAY - 30)
        stays = []
        for y in YEARS:
            if s.chance(0.45):
                entry = day(y, 7, 1) + s.between(0, 50)
                leave = entry + s.between(14, 35)
                if leave < back - 30:
                    stays.append((entry, leave))
        if s.chance(0.75):
            self.jobs(pid, back + s.between(30, 365), LAST_DAY, "national", 1000)
        if s.chance(0.1):
            self.stay((back, LAST_DAY), stays, 5, 20)
        self.life(pid, ABROAD, [*flatten(stays), back], POSTS["national"])

    def placed(self, i: int) -> None:
        """Placed abroad by the employment agency: seasonal or regular programme."""
        if self.pop.seasonal[i]:
            self.seasonal(i)
        else:
            self.regular(i)

    def seasonal(self, i: int) -> None:
        """Seasons in Spain (March-May to June-July), often repeated; some never return."""
        s, pid = self.s, i + 1
        first = FIRST_SEASON.draw(s)
        seasons = [first] + [y for y in range(first + 1, YEARS[-1] + 1)
                             if s.chance(REPEAT_SEASON[y])]
        changes: list[int] = []
        home: list[Stay] = []
        home_start: int | None = 0
        for y in seasons:
            start = day(y, 3, 1) + s.between(0, 75)
            leave = start + s.between(1, 7)
            end = day(y, 6, 5) + s.between(0, 40)
            self.ev.placements.add(pid, start, end, "SEASONAL_AGRI_ESP", "ESP", "9")
            home.append((home_start, leave - 1))
            changes.append(leave)
            if s.chance(SEASON_NO_RETURN):
                home_start = None
                break
            home_start = end + s.between(0, 10)
            changes.append(home_start)
        if home_start is not None:
            home.append((home_start, LAST_DAY))
        if s.chance(0.15):  # some formal work at home between seasons
            for a, b in home:
                if b - a > 150:
                    self.jobs(pid, a + s.between(15, 60), b if b == LAST_DAY else b - 10,
                              "national", 150)
        self.life(pid, IN, changes, POSTS["seasonal"])

    def regular(self, i: int) -> None:
        """One placement of 1-4 years abroad; may work before and after, visit in summer."""
        s, pid = self.s, i + 1
        programme = REGULAR_PROGRAMMES.draw(s)
        start = s.between(60, LAST_DAY - 60)
        leave = start + s.between(2, 14)
        back = leave + s.between(365, 1460)
        returns = back <= LAST_DAY - 30 and s.chance(0.55)
        end = None if s.chance(0.3) else add_years(start, s.between(1, 3))
        self.ev.placements.add(pid, start, end, programme, DESTINATION[programme],
                               PROGRAMME_ISCO[programme].draw(s))
        if s.chance(0.6):  # employed at home before departure
            first = 0 if s.chance(0.7) else s.between(30, 600)
            self.jobs(pid, first, leave - 1 - s.between(10, 60), "national", 900)
        visits: list[Stay] = []
        abroad = (leave + 90, back - 1 if returns else LAST_DAY)  # no visit right after leaving
        for y in YEARS:
            if s.chance(0.35):
                self.stay(abroad, visits, 14, 30, window=(day(y, 6, 15), day(y, 9, 15)))
        changes = [leave, *flatten(visits)]
        if returns:
            changes.append(back)
            if s.chance(0.7):
                self.jobs(pid, back + s.between(30, 240), LAST_DAY, "national", 1000)
        self.life(pid, IN, changes, POSTS["national"])

    def foreigner(self, i: int) -> None:
        """Foreign worker, family member or student: arrival, permits, work, visits home."""
        s, pid = self.s, i + 1
        group, nat = self.pop.group[i], self.pop.nationality[i]
        student = group == "foreign_student"
        arrival: int | None = None
        if not s.chance(PRESENT_BEFORE[group]):
            if student:
                arrival = day(s.pick(YEARS), 9, 1) + s.between(0, 45)
            else:
                arrival = s.between(60, LAST_DAY - 90)
        a = arrival if arrival is not None else 0
        leave = self.departure(group, arrival)
        b = leave - 1 if leave is not None else LAST_DAY

        if arrival is not None:
            first_permit = arrival + s.between(0, 60)
        else:  # present before 2019: the first permit in the period is a renewal
            first_permit = s.between(0, 3650) if s.chance(0.08) else s.between(0, 364)
        issues = self.permits(pid, first_permit, b, REASON[group])

        kind = SECTOR_KIND.get(nat, "foreign")
        if group == "foreign_worker":
            start = first_permit + s.between(0, 30) if arrival is not None else 0
            jobs = self.jobs(pid, start, b, kind, 700, gap=(20, 150))
            if nat not in EXEMPT_NATIONALITIES:
                self.approvals(pid, first_permit if arrival is not None else None, jobs)
        elif s.chance(DECLARED[group]):
            start = first_permit + s.between(30, 400) if arrival is not None else s.between(0, 600)
            self.jobs(pid, start, b, kind, 200 if student else 300, gap=(60, 400))

        visits: list[Stay] = []
        for y in YEARS:
            if s.chance(VISIT_HOME[group]):
                window = (day(y, 6, 20), day(y, 9, 10)) if student else (day(y, 1, 1),
                                                                           day(y, 12, 31))
                self.stay((a, b), visits, 7, 27, anchors=issues, window=window, margin=5)
        changes = flatten(visits)
        changes += [arrival] if arrival is not None else []
        changes += [leave] if leave is not None else []
        posts = POSTS[POST_PROFILE.get(nat, "air")]
        self.life(pid, IN if arrival is None else ABROAD, changes, posts)

    def departure(self, group: str, arrival: int | None) -> int | None:
        """Day a foreign resident leaves for good, if within the period."""
        s = self.s
        a = arrival if arrival is not None else 0
        if group == "foreign_student":
            if not s.chance(STUDENT_LEAVES):
                return None
            first_year = year_of(arrival) if arrival is not None else 2019 - s.between(0, 2)
            y = first_year + s.between(2, 5)
            if y > YEARS[-1]:
                return None
            d = day(y, 6, 15) + s.between(0, 45)
            return d if a + 200 < d <= LAST_DAY - 5 else None
        if s.chance(LEAVES[group]) and a + 240 < LAST_DAY - 30:
            return s.between(a + 240, LAST_DAY - 30)
        return None

    def visitor(self, i: int) -> None:
        """A tourist or short visitor: one to three stays of 2-30 days."""
        s, pid = self.s, i + 1
        visits: list[Stay] = []
        for k in range(VISITS.draw(s)):
            self.stay((0, LAST_DAY), visits, 2, 30, margin=5, attempts=10 if k == 0 else 3)
        posts = POSTS[POST_PROFILE.get(self.pop.nationality[i], "air")]
        self.life(pid, ABROAD, flatten(visits), posts)


def simulate(pop: Population, rng: np.random.Generator) -> Events:
    """Every person's life history, in person order."""
    return Simulator(pop, rng).run()
