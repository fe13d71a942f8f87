-- view: migrant_worker_months
-- definition: International migrant workers by month: one row per person and month of the
--   period in which a person whose citizenship is known and is not the country is declared
--   employed (an employment_months row with days_declared > 0) and is of working age (15 or
--   over in that calendar year; an unknown birth year does not exclude). Columns: person_id,
--   period (the month), sex, age_group, citizenship, activity (the ISIC section of the
--   employer declaring most days that month; ties: the first section in order), residence
--   ('R' usual resident at the end of the month, 'NR' non-resident: person_months.resident).
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration: international migrant workers are usual residents who are international
--   migrants and in the labour force, plus non-resident foreign workers. Records:
--   social-security monthly declarations; residence from the timeline (rules/residence.yaml).
-- notes: Employed persons only: the unemployed and undeclared work are not in these records.
--   Foreign citizenship stands in for "international migrant" (no country of birth here).
--   Months, not years: one declaration in a year would overstate the stock (DOMAIN.md).
WITH declared AS (
    SELECT person_id, CAST(date_trunc('month', month) AS DATE) AS period, sector,
           sum(days_declared) AS days
    FROM employment_months
    WHERE days_declared > 0
      AND month BETWEEN date_trunc('month', getvariable('period_start'))
                    AND getvariable('period_end')
    GROUP BY ALL
),
main_activity AS (
    SELECT person_id, period, first(sector ORDER BY days DESC, sector NULLS LAST) AS activity
    FROM declared
    GROUP BY person_id, period
)
SELECT m.person_id, m.period, p.sex, p.age_group, p.citizenship, m.activity,
       CASE WHEN pm.resident THEN 'R' ELSE 'NR' END AS residence
FROM main_activity AS m
JOIN aged_15_plus AS p
  ON p.person_id = m.person_id AND p.year = year(m.period)
LEFT JOIN person_months AS pm
  ON pm.person_id = m.person_id AND pm.month = m.period
WHERE p.citizenship IS NOT NULL
  AND p.citizenship <> getvariable('country')
