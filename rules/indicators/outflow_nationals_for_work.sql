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
SELECT
    year(d.start_date) AS year,
    p.sex,
    p.citizenship,
    count(DISTINCT d.person_id) AS persons
FROM departures_for_work AS d
JOIN persons AS p USING (person_id)
WHERE d.start_date BETWEEN getvariable('period_start') AND getvariable('period_end')
  AND p.citizenship = getvariable('country')
GROUP BY ALL
