-- view: seasonal_outcomes
-- definition: The outcome of each seasonal programme departure (departures_for_work whose
--   programme starts with 'SEASONAL'): person_id, destination, start_date, end_date,
--   exit_date, return_date (the first entry crossing after the exit), due_date (the end of
--   the placement plus 60 days of grace), outcome: 'returned' (return_date on or before
--   due_date), 'not returned' (due_date is within the period and no return by then: an
--   overstay, or an exit the border data missed), 'pending' (due_date after the end of the
--   period, not yet returned) or 'no end date' (the placement has no end date).
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration (seasonal workers; return migration); circular-migration programme monitoring
--   counts returns and non-returns against the end of the contract. Records:
--   employment-agency placements (seasonal programmes), border crossings.
-- notes: The 60 days of grace are a choice: seasonal contracts often end a few weeks early
--   or late. A return after the due date is still a return in return_migrant_workers.
WITH departures AS (
    SELECT person_id, destination, start_date, end_date, exit_date,
           end_date + INTERVAL 60 DAY AS due_date
    FROM departures_for_work
    WHERE starts_with(programme, 'SEASONAL')
),
first_returns AS (
    SELECT d.person_id, d.start_date, d.exit_date, min(b.date) AS return_date
    FROM departures AS d
    JOIN border_crossings AS b
      ON b.person_id = d.person_id
     AND b.direction = 'in'
     AND b.date > d.exit_date
    GROUP BY ALL
)
SELECT d.person_id, d.destination, d.start_date, d.end_date, d.exit_date, r.return_date,
       CAST(d.due_date AS DATE) AS due_date,
       CASE
           WHEN d.end_date IS NULL THEN 'no end date'
           WHEN r.return_date <= d.due_date THEN 'returned'
           WHEN d.due_date <= getvariable('period_end') THEN 'not returned'
           ELSE 'pending'
       END AS outcome
FROM departures AS d
LEFT JOIN first_returns AS r USING (person_id, start_date, exit_date)
