-- Checks every node's committed output must pass. `this` is the node's rows.

-- check: ids_not_null
SELECT * FROM this WHERE id IS NULL;
