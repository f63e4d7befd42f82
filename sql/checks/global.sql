-- A global node writes one shard from all of its inputs; its ids must be unique.

-- check: ids_unique
SELECT id, count(*) AS copies FROM this GROUP BY id HAVING count(*) > 1;
