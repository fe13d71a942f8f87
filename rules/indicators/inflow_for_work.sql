-- indicator: inflow_for_work
-- frequency: annual
-- dimensions: age_group, citizenship, activity
-- definition: For-work inflow of foreign citizens, by year. A person's first work signal is
--   the earliest, over all records, of: their first declared employment month (an
--   employment_months row with days_declared > 0), the issue date of their first residence
--   permit with reason 'work', and the start date of their first placement with
--   destination = country (a hiring approval). A person whose citizenship is known and is not
--   the country counts in year y when their first work signal falls in year y of the period
--   and they have an entry crossing ('in') from 180 days before to 31 days after it (31 days
--   after because employment is declared by month: the entry may fall inside the first
--   declared month). Aged 15+ in year y (an unknown birth year does not exclude). By sex, age
--   group, citizenship and activity: the ISIC section of the first declared employment month
--   (the sector declaring most days; unknown when no employment is declared).
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration: "for-work international migrants" (flow), inflow of foreigners coming to work.
--   Records: social-security monthly declarations, residence permits, hiring approvals
--   (placements), border crossings.
-- notes: Left-censoring: a first work signal in the first month of the period does not count,
--   because the person was probably working before the records start. A signal before the
--   period is a first signal too, so a person already working then is never an inflow.
--   A work permit without declared work counts (the person came to work).
WITH work_signals AS (
    SELECT person_id, month AS signal_date
    FROM employment_months
    WHERE days_declared > 0
    UNION ALL
    SELECT person_id, issue_date
    FROM residence_permits
    WHERE reason = 'work'
    UNION ALL
    SELECT person_id, start_date
    FROM placements
    WHERE destination = getvariable('country')
),
first_work_signal AS (
    SELECT person_id, min(signal_date) AS signal_date
    FROM work_signals
    GROUP BY person_id
),
first_activity AS (
    SELECT person_id, first(sector ORDER BY month, days DESC, sector NULLS LAST) AS activity
    FROM (SELECT person_id, month, sector, sum(days_declared) AS days
          FROM employment_months WHERE days_declared > 0 GROUP BY ALL)
    GROUP BY person_id
),
inflows AS (
    SELECT f.person_id, CAST(date_trunc('year', f.signal_date) AS DATE) AS period
    FROM first_work_signal AS f
    WHERE f.signal_date BETWEEN getvariable('period_start') AND getvariable('period_end')
      AND date_trunc('month', f.signal_date) > date_trunc('month', getvariable('period_start'))
      AND EXISTS (
          SELECT 1
          FROM border_crossings AS b
          WHERE b.person_id = f.person_id
            AND b.direction = 'in'
            AND b.date BETWEEN f.signal_date - INTERVAL 180 DAY
                           AND f.signal_date + INTERVAL 31 DAY
      )
)
SELECT i.person_id, i.period, p.sex, p.age_group, p.citizenship, fa.activity
FROM inflows AS i
JOIN aged_15_plus AS p
  ON p.person_id = i.person_id AND p.year = year(i.period)
LEFT JOIN first_activity AS fa ON fa.person_id = i.person_id
WHERE p.citizenship IS NOT NULL
  AND p.citizenship <> getvariable('country')
