-- claim: MIRO beats the baseline on every reward and on mini-GenEval at equal training steps
-- verdict: all
-- paper: MIRO improves every reward and GenEval over the baseline (Tables 1-2).
-- Mean reward level (the score's bin target under the dataset's edges, 0..1) of one sample per
-- prompt under each model's default setting, and mini-GenEval overall (mean of tag accuracies).
WITH e AS (SELECT * FROM {{evaluations}} WHERE setting = 'default' AND sample_index = 0),
levels AS (UNPIVOT (SELECT variant, COLUMNS('_level$') FROM e) ON COLUMNS('_level$') INTO NAME metric VALUE level),
rewards AS (
  SELECT replace(metric, '_level', '') AS metric,
         avg(level) FILTER (WHERE variant = 'miro') AS miro,
         avg(level) FILTER (WHERE variant = 'baseline') AS baseline
  FROM levels GROUP BY ALL
),
tags AS (
  SELECT variant, tag, avg(geneval_correct::INT) AS acc FROM e WHERE geneval_correct IS NOT NULL GROUP BY ALL
),
geneval AS (
  SELECT 'mini-GenEval' AS metric,
         avg(acc) FILTER (WHERE variant = 'miro') AS miro,
         avg(acc) FILTER (WHERE variant = 'baseline') AS baseline
  FROM tags
)
SELECT metric, round(miro, 3) AS miro, round(baseline, 3) AS baseline, round(miro - baseline, 3) AS difference, miro > baseline AS holds
FROM (SELECT * FROM rewards UNION ALL SELECT * FROM geneval)
ORDER BY metric = 'mini-GenEval', metric;
