-- title: Correlations between rewards
-- needs: scores
-- Pearson correlation of every pair of raw reward scores, over rows where both are present.
WITH long AS (UNPIVOT scores ON COLUMNS(* EXCLUDE id) INTO NAME reward VALUE score)
PIVOT (
  SELECT a.reward AS reward, b.reward AS other, round(corr(a.score, b.score), 3) AS r
  FROM long a JOIN long b USING (id)
  GROUP BY ALL
) ON other USING any_value(r)
ORDER BY reward;
