-- indicator: seasonal_departures
-- frequency: annual
-- dimensions: age_group, destination
-- definition: Seasonal programme departures of nationals, by year of placement start. As
--   outflow_nationals_for_work, restricted to placements whose programme starts with
--   'SEASONAL' (case-sensitive): nationals with such a placement abroad starting in year y of
--   the period and an exit crossing from 30 days before to 60 days after that start
--   (departures_for_work). Each person counts once a year, with the destination of their
--   first seasonal departure that year. Aged 15+ (an unknown birth year does not
--   exclude). By sex, age group and destination.
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration: "for-work international migrants" (flow), seasonal workers among those leaving
--   to work abroad. Records: employment-agency placements (seasonal programmes), border
--   crossings.
-- notes: Every person counted here is counted in outflow_nationals_for_work that year.
WITH yearly AS (
    SELECT person_id, CAST(date_trunc('year', start_date) AS DATE) AS period,
           first(destination ORDER BY start_date, destination) AS destination
    FROM departures_for_work
    WHERE starts_with(programme, 'SEASONAL')
      AND start_date BETWEEN getvariable('period_start') AND getvariable('period_end')
    GROUP BY ALL
)
SELECT d.person_id, d.period, p.sex, p.age_group, d.destination
FROM yearly AS d
JOIN aged_15_plus AS p
  ON p.person_id = d.person_id AND p.year = year(d.period)
WHERE p.citizenship = getvariable('country')
