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
in_stays AS (
    -- each stay in the country, cut to the reference period (end exclusive)
    SELECT person_id,
           greatest(start_date, CAST(date_trunc('month', getvariable('period_start')) AS DATE))
               AS start_date,
           least(end_date, last_day(getvariable('period_end')) + 1) AS end_date
    FROM stays
    WHERE side = 'in'
),
days_in AS (
    -- the days of each month a stay covers: each stay against the months it touches (a
    -- range join on the small months table), not every month of a person against each stay
    SELECT s.person_id, m.month,
           sum(least(s.end_date, last_day(m.month) + 1) - greatest(s.start_date, m.month))::INTEGER
               AS days_in
    FROM in_stays AS s
    JOIN months AS m
      ON m.month >= date_trunc('month', s.start_date)
     AND m.month < s.end_date
    GROUP BY s.person_id, m.month
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
residence_spells AS (
    -- a change holds for the months whose last day falls on or after it and before the
    -- next change: from its own month up to the next change's month (a later change in
    -- the same month wins, as the latest change on or before the month's end)
    SELECT person_id, direction, CAST(date_trunc('month', date) AS DATE) AS first_month,
           CAST(date_trunc('month', lead(date) OVER (PARTITION BY person_id
                                                     ORDER BY date, direction)) AS DATE)
               AS next_month
    FROM residence_changes
),
residence AS (
    SELECT s.person_id, m.month, s.direction = 'in' AS resident
    FROM residence_spells AS s
    JOIN months AS m
      ON m.month >= s.first_month
     AND m.month < coalesce(s.next_month, DATE '9999-12-31')
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
       r.resident
FROM flags AS f
LEFT JOIN residence AS r USING (person_id, month)
