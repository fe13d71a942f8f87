-- indicator: return_migrant_workers
-- frequency: annual
-- dimensions: age_group, destination
-- definition: Returns of nationals from work abroad, by year of return. A departure for work
--   is an exit crossing ('out') from 30 days before to 60 days after the start of one of the
--   person's placements abroad (departures_for_work), at any date. Its return is the first
--   later entry crossing ('in') that finds the person a usual resident at the end of its
--   month (person_months.resident: they kept their residence while away, or the entry is a
--   long-term arrival). Nationals (citizenship = country) aged 15+ (an unknown birth year
--   does not exclude) count in year y when such a return falls in year y of the period.
--   Each person counts once a year, with the destination of the departure their first
--   return that year ends (the latest departure for work before it).
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration: "return international migrant workers" are current residents who previously
--   worked as international migrants in another country. Records: employment-agency
--   placements abroad, border crossings; residence from the timeline (rules/residence.yaml).
-- notes: A count of returns in the year, not the stock of residents who once worked abroad.
--   A national away for more than a year who comes back for a short visit is not a resident
--   on that entry; the entry when they come back to stay is their return. Crossings carry
--   dates only: an entry on the day of the exit is not taken as its return.
WITH resident_entries AS (
    SELECT b.person_id, b.date
    FROM border_crossings AS b
    JOIN person_months AS pm
      ON pm.person_id = b.person_id
     AND pm.month = CAST(date_trunc('month', b.date) AS DATE)
     AND pm.resident
    WHERE b.direction = 'in'
),
returns AS (
    SELECT d.person_id, d.exit_date, min(e.date) AS entry_date
    FROM (SELECT DISTINCT person_id, exit_date FROM departures_for_work) AS d
    JOIN resident_entries AS e
      ON e.person_id = d.person_id
     AND e.date > d.exit_date
    GROUP BY ALL
),
destinations AS (
    -- the destination of the latest departure for work before each return
    SELECT r.person_id, r.entry_date,
           first(d.destination ORDER BY d.exit_date DESC, d.start_date DESC, d.destination)
               AS destination
    FROM returns AS r
    JOIN departures_for_work AS d
      ON d.person_id = r.person_id
     AND d.exit_date < r.entry_date
    GROUP BY ALL
),
yearly AS (
    SELECT person_id, CAST(date_trunc('year', entry_date) AS DATE) AS period,
           first(destination ORDER BY entry_date) AS destination
    FROM destinations
    WHERE entry_date BETWEEN getvariable('period_start') AND getvariable('period_end')
    GROUP BY ALL
)
SELECT r.person_id, r.period, p.sex, p.age_group, r.destination
FROM yearly AS r
JOIN aged_15_plus AS p
  ON p.person_id = r.person_id AND p.year = year(r.period)
WHERE p.citizenship = getvariable('country')
