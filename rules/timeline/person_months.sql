-- table: person_months
-- definition: One row per person and month of the reference period: person_id, month (first
--   day), days_in (days in the country, from the stays), declared_work (work declared that
--   month), present (more than present_share of the month's days in the country, or work
--   declared: declared work in the country implies presence), work_while_abroad (work
--   declared in a month the crossings place abroad: an entry and an exit are probably
--   missing), resident (usual resident at the end of the month: the side of the last
--   residence change on or before that day, else of stay 0, is 'in').
-- source: UN Recommendations on Statistics of International Migration (usual residence,
--   12-month rule) with residence changes from the 12/16 rule (see migrations); ILO 20th ICLS
--   (2018) guidelines: international migrant workers are usual residents or non-residents
--   working in the country.
-- notes: Permits are not taken as presence: a permit is often issued before arrival and
--   outlives the stay.
WITH months AS (
    SELECT CAST(unnest(generate_series(
        date_trunc('month', getvariable('period_start')),
        date_trunc('month', getvariable('period_end')),
        INTERVAL 1 MONTH)) AS DATE) AS month
),
grid AS (
    SELECT p.person_id, m.month, last_day(m.month) AS month_end
    FROM persons AS p
    CROSS JOIN months AS m
),
days_in AS (
    SELECT g.person_id, g.month,
           sum(least(s.end_date, g.month_end + 1) - greatest(s.start_date, g.month))::INTEGER
               AS days_in
    FROM grid AS g
    JOIN stays AS s
      ON s.person_id = g.person_id
     AND s.side = 'in'
     AND s.start_date <= g.month_end
     AND s.end_date > g.month
    GROUP BY g.person_id, g.month
),
work AS (
    SELECT DISTINCT person_id, CAST(date_trunc('month', month) AS DATE) AS month
    FROM employment_months
    WHERE days_declared > 0
),
residence_changes AS (
    SELECT person_id, date, direction FROM migrations WHERE changes_residence
    UNION ALL
    SELECT person_id, start_date, side FROM stays WHERE stay = 0
),
flags AS (
    SELECT g.person_id, g.month, g.month_end,
           coalesce(d.days_in, 0) AS days_in,
           w.person_id IS NOT NULL AS declared_work,
           coalesce(d.days_in, 0) > getvariable('present_share') * day(g.month_end) AS by_crossings
    FROM grid AS g
    LEFT JOIN days_in AS d USING (person_id, month)
    LEFT JOIN work AS w USING (person_id, month)
)
SELECT f.person_id, f.month, f.days_in, f.declared_work,
       f.by_crossings OR f.declared_work AS present,
       f.declared_work AND NOT f.by_crossings AS work_while_abroad,
       r.direction = 'in' AS resident
FROM flags AS f
ASOF LEFT JOIN residence_changes AS r
  ON r.person_id = f.person_id
 AND r.date <= f.month_end
