-- indicator: seasonal_returns
-- frequency: annual
-- dimensions: age_group, destination
-- definition: Seasonal programme returns of nationals, by year of return: nationals with a
--   seasonal departure whose outcome is 'returned' (seasonal_outcomes: the first entry after
--   the exit falls by the end of the placement plus 60 days) and whose return falls in year y
--   of the period. Each person counts once a year, with the destination of their first such
--   return. Aged 15+ (an unknown birth year does not exclude). By sex, age group and
--   destination.
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration (seasonal workers, return international migrant workers). Records:
--   employment-agency placements (seasonal programmes), border crossings.
WITH yearly AS (
    SELECT person_id, CAST(date_trunc('year', return_date) AS DATE) AS period,
           first(destination ORDER BY return_date, destination) AS destination
    FROM seasonal_outcomes
    WHERE outcome = 'returned'
      AND return_date BETWEEN getvariable('period_start') AND getvariable('period_end')
    GROUP BY ALL
)
SELECT r.person_id, r.period, p.sex, p.age_group, r.destination
FROM yearly AS r
JOIN aged_15_plus AS p
  ON p.person_id = r.person_id AND p.year = year(r.period)
WHERE p.citizenship = getvariable('country')
