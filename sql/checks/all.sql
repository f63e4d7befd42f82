-- Checks every node's committed output must pass. `this` is the node's rows.

-- check: ids_not_null
SELECT * FROM this WHERE id IS NULL;

-- check: ids_unique
SELECT id, count(*) AS copies FROM this GROUP BY id HAVING count(*) > 1;
