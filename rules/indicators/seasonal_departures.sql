-- indicator: seasonal_departures
-- table: flows
-- definition: Seasonal departures of nationals, by year of placement start. As
--   outflow_nationals_for_work, restricted to placements whose programme starts with
--   'SEASONAL' (case-sensitive): nationals (citizenship = country) with such a placement
--   abroad (destination known and not the country) starting in year y of the period, and an
--   exit crossing ('out') from 30 days before to 60 days after that start. Distinct persons
--   per year of start, sex and citizenship.
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration: "for-work international migrants" (flow), seasonal workers among those leaving
--   to work abroad. Records: employment-agency placements (seasonal programmes), border
--   crossings.
-- notes: A subset of outflow_nationals_for_work: every person counted here is counted there.
WITH seasonal_placements_abroad AS (
    SELECT person_id, start_date
    FROM placements
    WHERE starts_with(programme, 'SEASONAL')
      AND destination IS NOT NULL
      AND destination <> getvariable('country')
      AND start_date BETWEEN getvariable('period_start') AND getvariable('period_end')
),
seasonal_departures AS (
    SELECT DISTINCT a.person_id, year(a.start_date) AS year
    FROM seasonal_placements_abroad AS a
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
FROM seasonal_departures AS d
JOIN persons AS p USING (person_id)
WHERE p.citizenship = getvariable('country')
GROUP BY d.year, p.sex, p.citizenship
