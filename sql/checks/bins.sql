-- Checks of the bins node. `this` is the bins rows; `bin_edges` the edges and populations.

-- check: targets_in_unit_interval_or_null
-- The lowest and highest value of every target column (NaN counts as the highest).
SELECT stat, value FROM (
  UNPIVOT (SELECT min(COLUMNS('(.*_target)$')) AS 'lowest \1', max(COLUMNS('(.*_target)$')) AS 'highest \1' FROM this)
  ON COLUMNS(*) INTO NAME stat VALUE value
)
WHERE value < 0 OR value > 1 OR isnan(value);

-- check: edges_ascending
SELECT reward, bin, lower, upper FROM bin_edges WHERE NOT (lower < upper);

-- check: equal_populations_for_continuous_scores
-- With no ties among the calibration scores, quantile edges give every bin N/B rows, within one.
WITH r AS (
  SELECT reward, sum(population) AS n, count(*) AS b, any_value(distinct_values) AS d
  FROM bin_edges GROUP BY reward
)
SELECT e.reward, e.bin, e.population, r.n / r.b AS expected
FROM bin_edges e JOIN r USING (reward)
WHERE r.d = r.n AND r.n >= r.b AND abs(e.population - r.n / r.b) > 1 + 0.01 * r.n / r.b;
