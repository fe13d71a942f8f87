-- indicator: outflow_nationals_for_work
-- table: flows
-- definition: For-work outflow of nationals, by year of placement start. Nationals
--   (citizenship = country) with a placement abroad (destination known and not the country)
--   starting in year y of the period, and an exit crossing ('out') from 30 days before to
--   60 days after that start. Distinct persons per year of start, sex and citizenship.
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration: "for-work international migrants" (flow), outflow of nationals leaving to work
--   abroad. Records: employment-agency placements abroad, border crossings.
-- notes: A placement without a destination is not treated as abroad. A placement with no
--   matching exit (cancelled, or the exit is missing from border data) does not count.
--   The departure rule is the same in return_migrant_workers and seasonal_departures.
WITH placements_abroad AS (
    SELECT person_id, start_date
    FROM placements
    WHERE destination IS NOT NULL
      AND destination <> getvariable('country')
      AND start_date BETWEEN getvariable('period_start') AND getvariable('period_end')
),
departures_for_work AS (
    SELECT DISTINCT a.person_id, year(a.start_date) AS year
    FROM placements_abroad AS a
    JOIN border_crossings AS b
      ON b.person_id = a.person_id
     AND b.direction = 'out'
     AND b.date BETWEEN a.start_date - INTERVAL 30 DAY AND a.start_date + INTERVAL 60 DAY
)
SELECT
    d.year,
    p.sex,
    p.citizenship,
    count(DISTINCT d.person_id) AS persons
FROM departures_for_work AS d
JOIN persons AS p USING (person_id)
WHERE p.citizenship = getvariable('country')
GROUP BY d.year, p.sex, p.citizenship
