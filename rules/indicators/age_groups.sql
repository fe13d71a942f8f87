-- view: age_groups
-- definition: The age groups of the ILO tables: age_group, min_age, max_age (inclusive).
--   Age is the calendar year of the period minus the birth year (the hub holds birth year
--   only). A person under 15 is not of working age and is in no group.
-- source: ILOSTAT age bands (10-year bands from 15: 15-24, 25-34, 35-44, 45-54, 55-64, 65+);
--   working age 15 and over as in the national labour-force survey.
SELECT *
FROM (VALUES
    ('15-24', 15, 24),
    ('25-34', 25, 34),
    ('35-44', 35, 44),
    ('45-54', 45, 54),
    ('55-64', 55, 64),
    ('65+', 65, 200)
) AS bands (age_group, min_age, max_age)
