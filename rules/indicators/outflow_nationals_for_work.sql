-- indicator: outflow_nationals_for_work
-- frequency: annual
-- dimensions: age_group, destination, occupation
-- definition: For-work outflow of nationals, by year of placement start. Nationals
--   (citizenship = country) with a placement abroad (destination known and not the country)
--   starting in year y of the period, and an exit crossing ('out') from 30 days before to
--   60 days after that start (departures_for_work). Each person counts once a year, with the
--   destination and occupation (ISCO-08 major group) of their first such departure that
--   year. Aged 15+ (an unknown birth year does not exclude). By sex, age group, destination
--   country and occupation.
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration: "for-work international migrants" (flow), outflow of nationals leaving to work
--   abroad; ILOSTAT ILMS (nationals abroad by destination). Records: employment-agency
--   placements abroad, border crossings.
-- notes: A placement without a destination is not treated as abroad. A placement with no
--   matching exit (cancelled, or the exit is missing from border data) does not count.
--   The departure rule is the same in return_migrant_workers and the seasonal indicators.
WITH yearly AS (
    SELECT person_id, CAST(date_trunc('year', start_date) AS DATE) AS period,
           first(destination ORDER BY start_date, destination) AS destination,
           first(occupation ORDER BY start_date, destination, occupation) AS occupation
    FROM departures_for_work
    WHERE start_date BETWEEN getvariable('period_start') AND getvariable('period_end')
    GROUP BY ALL
)
SELECT d.person_id, d.period, p.sex, p.age_group, d.destination, d.occupation
FROM yearly AS d
JOIN aged_15_plus AS p
  ON p.person_id = d.person_id AND p.year = year(d.period)
WHERE p.citizenship = getvariable('country')
