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
SELECT
    year(d.start_date) AS year,
    p.sex,
    p.citizenship,
    count(DISTINCT d.person_id) AS persons
FROM departures_for_work AS d
JOIN persons AS p USING (person_id)
WHERE starts_with(d.programme, 'SEASONAL')
  AND d.start_date BETWEEN getvariable('period_start') AND getvariable('period_end')
  AND p.citizenship = getvariable('country')
GROUP BY ALL
