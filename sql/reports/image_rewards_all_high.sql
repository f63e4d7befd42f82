-- title: Rows whose every image-only reward target is at least 0.75
-- needs: bins, reward_inputs
-- The corner MIRO's default targets (all rewards 1) ask for must exist in the data: the share of
-- rows that are in the top quarter of every reward that reads the image alone.
WITH t AS (
  UNPIVOT (SELECT id, COLUMNS('_target$') FROM bins) ON COLUMNS(* EXCLUDE id) INTO NAME reward VALUE target
),
image_rewards AS (SELECT DISTINCT reward FROM reward_inputs WHERE NOT reads_caption),
per_row AS (
  SELECT id, bool_and(target >= 0.75) AS all_high
  FROM t JOIN image_rewards r ON t.reward = r.reward || '_target'
  GROUP BY id
)
SELECT (SELECT string_agg(reward, ', ' ORDER BY reward) FROM image_rewards) AS image_rewards,
       count(*) AS rows, sum(all_high::INT) AS rows_all_high, round(avg(all_high::INT), 4) AS share
FROM per_row;
