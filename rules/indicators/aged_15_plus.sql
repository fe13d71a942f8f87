-- view: aged_15_plus
-- definition: Each person in each calendar year of the period in which they are of working
--   age: person_id, year (an integer), sex, citizenship, age_group (age_groups; NULL when the
--   birth year is unknown). Age is the year minus the birth year (the hub holds birth year
--   only). A person whose birth year is unknown is kept: an unknown age does not exclude.
--   The indicators join their units to this view on (person_id, year of the period): one
--   place for the working-age rule and the age groups.
-- source: working age 15 and over as in the national labour-force survey (ILO, 20th ICLS
--   2018 guidelines concerning statistics of international labour migration).
WITH years AS (
    SELECT unnest(range(year(getvariable('period_start')),
                        year(getvariable('period_end')) + 1)) AS year
)
SELECT p.person_id, y.year, p.sex, p.citizenship, a.age_group
FROM persons AS p
CROSS JOIN years AS y
LEFT JOIN age_groups AS a
  ON y.year - p.birth_year BETWEEN a.min_age AND a.max_age
WHERE p.birth_year IS NULL OR y.year - p.birth_year >= 15
