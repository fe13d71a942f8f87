-- table: migrations
-- definition: Every crossing, classified by the outcomes-based rule: person_id, date,
--   direction, imputed, days_on_new_side (days spent on the side the crossing leads to in the
--   window that starts on its day; a day the crossings place abroad in a month of declared
--   work counts as in the country, as in person_months), long_term (days_on_new_side >= the
--   threshold), changes_residence (a long-term crossing away from the person's residence
--   at the time: an arrival of a non-resident or a departure of a resident), censored (the
--   person's first crossing, less than threshold_days after the start of the period: how
--   long they had been on the old side is unknown, so a residence change here is not counted
--   as a migration),
--   migration (changes_residence and not censored: what the flow indicators count),
--   provisional (the window runs past the end of the reference period, so the open-ended
--   last stay decided it).
--   A person's residence before their first crossing is the side of stay 0; it changes only
--   at crossings with changes_residence = true.
-- source: Statistics New Zealand's outcomes-based 12/16 rule (a migrant arrival is a
--   non-resident who arrives and spends at least 12 of the next 16 months in the country; a
--   migrant departure is a resident who leaves and spends at least 12 of the next 16 months
--   abroad); window and threshold from rules/residence.yaml (window_days, threshold_days).
-- notes: The days need not be continuous: short trips back inside the window do not break
--   the count. A second long-term crossing the same way (already a resident, arriving again)
--   does not change residence.
WITH by_crossings AS (
    SELECT c.person_id, c.date, c.direction, c.imputed,
           c.date = min(c.date) OVER (PARTITION BY c.person_id) AS first_crossing,
           sum(least(s.end_date, c.date + getvariable('window_days'))
               - greatest(s.start_date, c.date))::INTEGER AS days
    FROM crossings AS c
    JOIN stays AS s
      ON s.person_id = c.person_id
     AND s.side = c.direction
     AND s.start_date < c.date + getvariable('window_days')
     AND s.end_date > c.date
    GROUP BY c.person_id, c.date, c.direction, c.imputed
),
work_months AS (
    SELECT DISTINCT person_id, CAST(date_trunc('month', month) AS DATE) AS month_start
    FROM employment_months
    WHERE days_declared > 0
),
work_abroad AS (
    -- days in the window the crossings place abroad but in a month of declared work: the
    -- person was in the country then (as in person_months)
    SELECT c.person_id, c.date, c.direction, c.imputed,
           sum(least(s.end_date, c.date + getvariable('window_days'),
                     last_day(w.month_start) + 1)
               - greatest(s.start_date, c.date, w.month_start))::INTEGER AS days
    FROM crossings AS c
    JOIN stays AS s
      ON s.person_id = c.person_id
     AND s.side = 'out'
     AND s.start_date < c.date + getvariable('window_days')
     AND s.end_date > c.date
    JOIN work_months AS w
      ON w.person_id = c.person_id
     AND w.month_start < least(s.end_date, c.date + getvariable('window_days'))
     AND last_day(w.month_start) + 1 > greatest(s.start_date, c.date)
    GROUP BY c.person_id, c.date, c.direction, c.imputed
),
windows AS (
    SELECT b.person_id, b.date, b.direction, b.imputed, b.first_crossing,
           b.days + CASE b.direction WHEN 'in' THEN 1 ELSE -1 END * coalesce(w.days, 0)
               AS days_on_new_side
    FROM by_crossings AS b
    LEFT JOIN work_abroad AS w USING (person_id, date, direction, imputed)
),
classified AS (
    SELECT *, days_on_new_side >= getvariable('threshold_days') AS long_term
    FROM windows
),
residence_sequence AS (
    -- the side of residence before the first crossing, then each long-term crossing;
    -- a long-term crossing changes residence when it goes the other way from the last one kept
    SELECT person_id, date, direction, imputed,
           direction IS DISTINCT FROM lag(direction) OVER (
               PARTITION BY person_id ORDER BY date, imputed) AS changes_residence
    FROM (
        SELECT person_id, date, direction, imputed FROM classified WHERE long_term
        UNION ALL
        SELECT person_id, start_date, side, false FROM stays WHERE stay = 0
    )
)
SELECT c.person_id, c.date, c.direction, c.imputed, c.days_on_new_side, c.long_term,
       coalesce(r.changes_residence, false) AS changes_residence,
       c.first_crossing
           AND c.date < getvariable('period_start') + getvariable('threshold_days') AS censored,
       coalesce(r.changes_residence, false) AND NOT censored AS migration,
       c.date + getvariable('window_days') > getvariable('period_end') + 1 AS provisional
FROM classified AS c
LEFT JOIN residence_sequence AS r USING (person_id, date, direction, imputed)
