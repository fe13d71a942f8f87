-- table: persons
-- definition: one row per linked person with the coded attributes indicators need. Each
--   attribute is the value recorded most often across the person's records (ties: the
--   smallest value), ignoring missing values. Citizenship is the recorded nationality; a
--   record with no nationality that carries a national identity card number counts as the
--   country's (the card is issued to nationals only: DOMAIN.md). So a national known to the
--   social-security fund alone is a national, and a false link of their many declarations to
--   a few crossings of a foreigner does not make them a foreign worker.
-- input: record_person(source, record_id, person_id), records(source, record_id, identity_id),
--   identity_attributes(unique_id, sex, nationality, birth_year, holds_national_id);
--   getvariable('country')
-- source: migralink methodology; citizenship as in ILO ICLS 2018 guidelines (para. on
--   "international migrants measured by citizenship").
WITH attributes AS (
    SELECT rp.person_id, i.sex, i.birth_year,
           coalesce(i.nationality,
                    CASE WHEN i.holds_national_id THEN getvariable('country') END) AS nationality
    FROM record_person rp
    JOIN records r USING (source, record_id)
    JOIN identity_attributes i ON i.unique_id = r.identity_id
),
sex AS (
    SELECT person_id, first(sex ORDER BY n DESC, sex) AS sex
    FROM (SELECT person_id, sex, count(*) AS n FROM attributes WHERE sex IS NOT NULL GROUP BY ALL)
    GROUP BY person_id
),
citizenship AS (
    SELECT person_id, first(nationality ORDER BY n DESC, nationality) AS citizenship
    FROM (SELECT person_id, nationality, count(*) AS n FROM attributes
          WHERE nationality IS NOT NULL GROUP BY ALL)
    GROUP BY person_id
),
birth_year AS (
    SELECT person_id, first(birth_year ORDER BY n DESC, birth_year) AS birth_year
    FROM (SELECT person_id, birth_year, count(*) AS n FROM attributes
          WHERE birth_year IS NOT NULL GROUP BY ALL)
    GROUP BY person_id
)
SELECT p.person_id, s.sex, c.citizenship, b.birth_year, p.n_records
FROM (SELECT person_id, count(*) AS n_records FROM record_person GROUP BY person_id) p
LEFT JOIN sex s USING (person_id)
LEFT JOIN citizenship c USING (person_id)
LEFT JOIN birth_year b USING (person_id)
