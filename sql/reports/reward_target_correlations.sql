-- title: Correlation of every pair of reward targets, lowest first (a reward suite should not contradict itself)
-- needs: bins
-- Pearson correlation of the bin targets (rank-like, in [0, 1]) of every pair of rewards, over rows
-- where both are present. A strongly negative pair asks for an empty corner of the data when both
-- are set to 1.
WITH t AS (
  UNPIVOT (SELECT id, COLUMNS('_target$') FROM bins) ON COLUMNS(* EXCLUDE id) INTO NAME reward VALUE target
)
SELECT replace(a.reward, '_target', '') AS reward, replace(b.reward, '_target', '') AS other, round(corr(a.target, b.target), 3) AS r
FROM t a JOIN t b USING (id)
WHERE a.reward < b.reward
GROUP BY ALL
ORDER BY r, reward, other;
