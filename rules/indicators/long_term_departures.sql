-- indicator: long_term_departures
-- frequency: annual
-- dimensions: age_group, citizenship
-- definition: Long-term migrant departures aged 15 and over, by year: crossings that change
--   the person's residence (migrations.migration, direction 'out'): a departure of a resident
--   who then spends at least 12 of the next 16 months abroad (the default rule in
--   rules/residence.yaml), dated in year y of the period.
--   Each person counts once a year. Any citizenship: nationals and foreigners alike. By sex,
--   age group and citizenship.
-- source: UN Recommendations on Statistics of International Migration, Rev.1 (1998):
--   long-term migrants change their country of usual residence for at least 12 months;
--   Statistics New Zealand's outcomes-based 12/16 rule on linked border crossings.
--   Records: border crossings, declared work (imputed crossings).
-- notes: Crossings in the last 16 months of the period are provisional
--   (migrations.provisional): the open-ended last stay decided them. Crossings the border
--   data missed and the timeline imputed can be migrations too.
WITH yearly AS (
    SELECT DISTINCT person_id, CAST(date_trunc('year', date) AS DATE) AS period
    FROM migrations
    WHERE migration
      AND direction = 'out'
      AND date BETWEEN getvariable('period_start') AND getvariable('period_end')
)
SELECT m.person_id, m.period, p.sex, p.age_group, p.citizenship
FROM yearly AS m
JOIN aged_15_plus AS p
  ON p.person_id = m.person_id AND p.year = year(m.period)
