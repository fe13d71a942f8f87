-- indicator: stock_migrant_workers_year_end
-- frequency: annual
-- dimensions: age_group, citizenship, activity, residence
-- definition: Stock of international migrant workers at year end: stock_migrant_workers in
--   December of each year of the period (a year whose December is outside the period has no
--   year-end figure).
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration: stocks are counted at a point in time, such as the end of the year.
--   Records: as stock_migrant_workers.
SELECT person_id, CAST(date_trunc('year', period) AS DATE) AS period, sex, age_group,
       citizenship, activity, residence
FROM migrant_worker_months
WHERE month(period) = 12
