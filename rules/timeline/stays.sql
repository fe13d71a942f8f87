-- table: stays
-- definition: Each person's stays on one side of the border, from the crossings: person_id,
--   stay (0, 1, 2... in time order), side ('in' the country or 'out'), start_date, end_date
--   (exclusive: the day of the next crossing). A stay starts with each crossing and lasts
--   until the next; the last is open-ended (end 9999-12-31). Stay 0 is the time before the
--   first crossing (from 0001-01-01), on the side that crossing leaves. A person with no
--   crossing has one open stay in the country: their records come from in-country
--   administrations.
-- source: Statistics New Zealand's 12/16 rule and migrbc: "the last known crossing is treated
--   as an open-ended stay".
-- notes: The open ends are assumptions: a person whose last crossing is an entry is taken to
--   be in the country ever after, until the data show otherwise.
WITH ordered AS (
    SELECT person_id, date, direction,
           row_number() OVER w AS stay,
           lead(date) OVER w AS next_date
    FROM crossings
    WINDOW w AS (PARTITION BY person_id ORDER BY date, imputed)
)
SELECT person_id, stay, direction AS side, date AS start_date,
       coalesce(next_date, DATE '9999-12-31') AS end_date
FROM ordered
UNION ALL
SELECT person_id, 0, CASE direction WHEN 'in' THEN 'out' ELSE 'in' END,
       DATE '0001-01-01', date
FROM ordered
WHERE stay = 1
UNION ALL
SELECT p.person_id, 0, 'in', DATE '0001-01-01', DATE '9999-12-31'
FROM persons AS p
ANTI JOIN crossings AS c USING (person_id)
