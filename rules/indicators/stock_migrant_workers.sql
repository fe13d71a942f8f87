-- indicator: stock_migrant_workers
-- table: stocks
-- definition: International migrant workers, monthly stock. For each month of the period,
--   persons whose citizenship is known and is not the country, declared employed that month
--   (an employment_months row with days_declared > 0), and aged 15 or over that month when
--   birth_year is known (age = calendar year of the month - birth_year; an unknown birth year
--   does not exclude). Distinct persons by month, sex and citizenship.
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration: "international migrant workers" (stock; working age 15+ as in the national
--   labour-force survey). Records: social-security monthly declarations (employment_months).
-- notes: Employed persons only: the unemployed and undeclared work are not in these records.
--   Foreign citizenship stands in for "international migrant" (no country of birth here).
--   Months, not years: one declaration in a year would overstate the stock (DOMAIN.md).
WITH declared_months AS (
    -- one row per person and month, however many employers declared them
    SELECT DISTINCT person_id, date_trunc('month', month)::DATE AS month
    FROM employment_months
    WHERE days_declared > 0
      AND month BETWEEN date_trunc('month', getvariable('period_start'))
                    AND getvariable('period_end')
)
SELECT
    d.month,
    p.sex,
    p.citizenship,
    count(DISTINCT d.person_id) AS persons
FROM declared_months AS d
JOIN persons AS p USING (person_id)
WHERE p.citizenship IS NOT NULL
  AND p.citizenship <> getvariable('country')
  AND (p.birth_year IS NULL OR year(d.month) - p.birth_year >= 15)
GROUP BY d.month, p.sex, p.citizenship
