-- indicator: return_migrant_workers
-- table: flows
-- definition: Returns of nationals from work abroad, by year of return. A departure for work
--   is an exit crossing ('out') from 30 days before to 60 days after the start of one of the
--   person's placements abroad (destination known and not the country), at any date. Its
--   return is the first entry crossing ('in') on a later date. Nationals
--   (citizenship = country) count in year y when such a return falls in year y of the period.
--   Distinct persons per year of return, sex and citizenship.
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration: "return international migrant workers". Records: employment-agency placements
--   abroad, border crossings.
-- notes: A count of returns in the year, not the ICLS stock of residents who once worked
--   abroad. The departure rule is the same as in outflow_nationals_for_work, but the placement
--   and the exit may fall before the period. Crossings carry dates only: an entry on the day
--   of the exit is not taken as its return. No minimum stay abroad or at home is required,
--   so a home visit during a placement counts as a return.
WITH returns AS (
    SELECT d.person_id, d.exit_date, min(b.date) AS entry_date
    FROM (SELECT DISTINCT person_id, exit_date FROM departures_for_work) AS d
    JOIN border_crossings AS b
      ON b.person_id = d.person_id
     AND b.direction = 'in'
     AND b.date > d.exit_date
    GROUP BY d.person_id, d.exit_date
)
SELECT
    year(r.entry_date) AS year,
    p.sex,
    p.citizenship,
    count(DISTINCT r.person_id) AS persons
FROM returns AS r
JOIN persons AS p USING (person_id)
WHERE r.entry_date BETWEEN getvariable('period_start') AND getvariable('period_end')
  AND p.citizenship = getvariable('country')
GROUP BY ALL
