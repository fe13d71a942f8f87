-- indicator: seasonal_non_returns
-- frequency: annual
-- dimensions: age_group, destination
-- definition: Seasonal programme non-returns of nationals, by year of placement start:
--   nationals with a seasonal departure starting in year y of the period whose outcome is
--   'not returned' (seasonal_outcomes: no entry by the end of the placement plus 60 days,
--   which fell within the period). Each person counts once a year, with the destination of
--   their first such placement. Aged 15+ (an unknown birth year does not exclude). By
--   sex, age group and destination. Divided by
--   seasonal_departures of the same year, it is the season's non-return rate.
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration (seasonal workers); circular-migration programmes monitor returns against the
--   end of the contract. Records: employment-agency placements, border crossings.
-- notes: Placements still running or within their grace at the end of the period are
--   'pending', not non-returns. A missed entry at the border looks like a non-return.
WITH yearly AS (
    SELECT person_id, CAST(date_trunc('year', start_date) AS DATE) AS period,
           first(destination ORDER BY start_date, destination) AS destination
    FROM seasonal_outcomes
    WHERE outcome = 'not returned'
      AND start_date BETWEEN getvariable('period_start') AND getvariable('period_end')
    GROUP BY ALL
)
SELECT r.person_id, r.period, p.sex, p.age_group, r.destination
FROM yearly AS r
JOIN aged_15_plus AS p
  ON p.person_id = r.person_id AND p.year = year(r.period)
WHERE p.citizenship = getvariable('country')
