-- table: crossings
-- definition: Each person's border crossings as a sequence that alternates between entries
--   ('in') and exits ('out'), one row per crossing: person_id, date, direction, imputed,
--   basis. Repeated crossings of one person, day and direction count once. An entry and an
--   exit on the same day cancel out (a day trip or a transit leaves the person on the side
--   they were). Where two crossings in a row go the same way, the crossing between them is
--   missing and is imputed (imputed = true):
--     a missing exit between two entries is placed at the end of the last month with
--     declared work between them (basis 'declared work'), a missing entry between two exits
--     at the start of the first such month; with no declared work between them, at the
--     midpoint (basis 'midpoint'). An imputed crossing always falls strictly between the two.
-- source: Statistics New Zealand's 12/16 rule needs alternating crossings (its reference
--   implementation, migrbc, rejects sequences that do not alternate); administrative border
--   data lack entries and exits, so the gaps are resolved here, and counted (DOMAIN.md:
--   "declared work in the country implies presence").
-- notes: A crossing without a date or direction is not in the border table (the producer
--   rejects it). Work declared while the crossings place the person abroad, with no gap to
--   fill, is handled month by month in person_months, not here.
WITH daily AS (
    SELECT DISTINCT person_id, date, direction
    FROM border_crossings
    WHERE date IS NOT NULL
      AND direction IN ('in', 'out')
),
same_day AS (
    SELECT person_id, date
    FROM daily
    GROUP BY person_id, date
    HAVING count(*) = 2
),
observed AS (
    SELECT d.person_id, d.date, d.direction
    FROM daily AS d
    ANTI JOIN same_day AS s USING (person_id, date)
),
gaps AS (
    SELECT person_id, date, next_date, direction
    FROM (
        SELECT person_id, date, direction,
               lead(date) OVER w AS next_date,
               lead(direction) OVER w AS next_direction
        FROM observed
        WINDOW w AS (PARTITION BY person_id ORDER BY date)
    )
    WHERE direction = next_direction
      AND next_date - date >= 2          -- room for a crossing strictly between them
),
work_in_gaps AS (
    SELECT g.person_id, g.date,
           max(last_day(e.month)) AS last_work_day,
           min(e.month) AS first_work_day
    FROM gaps AS g
    JOIN employment_months AS e
      ON e.person_id = g.person_id
     AND e.days_declared > 0
     AND last_day(e.month) > g.date
     AND e.month < g.next_date
    GROUP BY g.person_id, g.date
),
imputed AS (
    SELECT
        g.person_id,
        CASE
            WHEN w.person_id IS NULL THEN g.date + CAST((g.next_date - g.date) // 2 AS INTEGER)
            WHEN g.direction = 'in' THEN least(w.last_work_day, g.next_date - 1)
            ELSE greatest(w.first_work_day, g.date + 1)
        END AS date,
        CASE g.direction WHEN 'in' THEN 'out' ELSE 'in' END AS direction,
        true AS imputed,
        CASE WHEN w.person_id IS NULL THEN 'midpoint' ELSE 'declared work' END AS basis
    FROM gaps AS g
    LEFT JOIN work_in_gaps AS w USING (person_id, date)
)
SELECT person_id, date, direction, false AS imputed, 'recorded' AS basis
FROM observed
UNION ALL
SELECT person_id, date, direction, imputed, basis
FROM imputed
