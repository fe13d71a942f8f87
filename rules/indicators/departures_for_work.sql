-- view: departures_for_work
-- definition: Departures to work abroad: one row per placement abroad (destination known and
--   not the country) that is followed by an exit crossing ('out') of the same person from 30
--   days before to 60 days after the placement start. Columns: person_id, programme,
--   destination, occupation (ISCO-08 major group), start_date, end_date, exit_date (the first
--   such exit). Any citizenship; the indicators that use it restrict it.
-- source: ILO, 20th ICLS (2018), Guidelines concerning statistics of international labour
--   migration: outflows of persons leaving to work abroad; placements abroad by the public
--   employment agency are the clearest administrative signal. Records: placements, border
--   crossings.
SELECT
    a.person_id,
    a.programme,
    a.destination,
    a.occupation,
    a.start_date,
    a.end_date,
    min(b.date) AS exit_date
FROM placements AS a
JOIN border_crossings AS b
  ON b.person_id = a.person_id
 AND b.direction = 'out'
 AND b.date BETWEEN a.start_date - INTERVAL 30 DAY AND a.start_date + INTERVAL 60 DAY
WHERE a.destination IS NOT NULL
  AND a.destination <> getvariable('country')
GROUP BY ALL
