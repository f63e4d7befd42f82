-- over: score
-- Every reward's raw score joined by id, one column per reward (NULL where missing or failed).
CREATE OR REPLACE VIEW scores AS
SELECT id{{each}}, s{{i}}.score AS {{name}}{{/each}}
FROM (SELECT DISTINCT id FROM ({{each sep=" UNION ALL "}}SELECT id FROM {{node}}{{/each}}))
{{each}}LEFT JOIN (SELECT id, CASE WHEN status = 'ok' THEN score END AS score FROM {{node}}) s{{i}} USING (id)
{{/each}};
