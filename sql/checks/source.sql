-- Source stages make ids; they must be unique.

-- check: ids_unique
SELECT id, count(*) AS copies FROM this GROUP BY id HAVING count(*) > 1;
