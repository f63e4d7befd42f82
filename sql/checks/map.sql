-- Map stages turn each input row into exactly one output row, joined by id.

-- check: row_count_equals_input
SELECT (SELECT count(*) FROM this) AS rows, (SELECT count(*) FROM input) AS input_rows
WHERE (SELECT count(*) FROM this) <> (SELECT count(*) FROM input);

-- check: ids_match_input
SELECT id FROM this WHERE id NOT IN (SELECT id FROM input);
