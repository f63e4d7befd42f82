-- title: Reward distributions
-- needs: scores
-- Per reward: how many rows carry a score, and the spread of the raw scores.
WITH long AS (UNPIVOT scores ON COLUMNS(* EXCLUDE id) INTO NAME reward VALUE score)
SELECT reward,
       count(*) AS scored,
       (SELECT count(*) FROM scores) - count(*) AS missing,
       count(DISTINCT score) AS distinct_values,
       min(score) AS min,
       quantile_cont(score, 0.25) AS p25,
       median(score) AS median,
       quantile_cont(score, 0.75) AS p75,
       max(score) AS max,
       avg(score) AS mean,
       stddev_samp(score) AS sd
FROM long
GROUP BY reward
ORDER BY reward;
