-- title: Mean of every other reward per bin of each reward (the trade-offs MIRO learns)
-- needs: scores, bins
-- Rows: a binned reward and its bin quartile; columns: the mean target of each reward there.
WITH targets AS (
  UNPIVOT (SELECT id, COLUMNS('_target$') FROM bins) ON COLUMNS(* EXCLUDE id) INTO NAME reward VALUE target
),
t AS (SELECT id, replace(reward, '_target', '') AS reward, target FROM targets)
PIVOT (
  SELECT a.reward AS binned, least(3, floor(a.target * 4))::INT AS quartile, b.reward AS other, round(avg(b.target), 3) AS mean_target
  FROM t a JOIN t b USING (id)
  GROUP BY ALL
) ON other USING any_value(mean_target)
ORDER BY binned, quartile;
