-- indicator: stock_migrant_workers
-- frequency: monthly
-- dimensions: age_group, citizenship, activity, residence
-- definition: Stock of international migrant workers in each month: the persons of
--   migrant_worker_months (foreign citizens aged 15+ declared employed in the month), by sex,
--   age group, citizenship, economic activity (ISIC section) and residence (usual resident
--   or non-resident foreign worker).
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration: "international migrant workers" (stock); ILOSTAT ILMS tables (employed
--   migrants by sex, age, citizenship, economic activity). Records: social-security monthly
--   declarations, border crossings (residence).
-- notes: See migrant_worker_months for who counts and the limits of the records.
SELECT person_id, period, sex, age_group, citizenship, activity, residence
FROM migrant_worker_months
