-- claim: MIRO beats the baseline on every reward and on mini-GenEval at equal training steps
-- verdict: all
-- paper: MIRO improves every reward and GenEval over the baseline (Tables 1-2).
-- Two fair comparisons on the same prompts, seeds and sampling steps: both models unguided
-- (MIRO at w = 0 with every target 1, against the baseline without guidance), and both with
-- their best guidance (MIRO's reward guidance at its default w, against the baseline's text-only
-- guidance at the same w). Rewards are mean levels (the score's bin target under the dataset's
-- edges, 0..1); mini-GenEval is the mean of tag accuracies, next to its chance control: the same
-- images judged against prompts shuffled across samples.
WITH e AS (
  SELECT *, CASE WHEN setting IN ('w0', 'none') THEN 'unguided' WHEN setting IN ('default', 'text') THEN 'guided' END AS comparison
  FROM {{evaluations}}
  WHERE sample_index = 0 AND ((variant = 'miro' AND setting IN ('w0', 'default')) OR (variant = 'baseline' AND setting IN ('none', 'text')))
),
levels AS (UNPIVOT (SELECT comparison, variant, COLUMNS('_level$') FROM e) ON COLUMNS('_level$') INTO NAME metric VALUE level),
rewards AS (
  SELECT comparison, replace(metric, '_level', '') AS metric,
         avg(level) FILTER (WHERE variant = 'miro') AS miro,
         avg(level) FILTER (WHERE variant = 'baseline') AS baseline,
         NULL::DOUBLE AS miro_chance, NULL::DOUBLE AS baseline_chance
  FROM levels GROUP BY ALL
),
tags AS (
  SELECT comparison, variant, tag, avg(geneval_correct::INT) AS acc, avg(geneval_shuffled_correct::INT) AS chance
  FROM e WHERE geneval_correct IS NOT NULL GROUP BY ALL
),
geneval AS (
  SELECT comparison, 'mini-GenEval' AS metric,
         avg(acc) FILTER (WHERE variant = 'miro') AS miro,
         avg(acc) FILTER (WHERE variant = 'baseline') AS baseline,
         avg(chance) FILTER (WHERE variant = 'miro') AS miro_chance,
         avg(chance) FILTER (WHERE variant = 'baseline') AS baseline_chance
  FROM tags GROUP BY comparison
)
SELECT comparison, metric, round(miro, 3) AS miro, round(baseline, 3) AS baseline, round(miro - baseline, 3) AS difference,
       round(miro_chance, 3) AS miro_chance, round(baseline_chance, 3) AS baseline_chance, miro > baseline AS holds
FROM (SELECT * FROM rewards UNION ALL SELECT * FROM geneval)
ORDER BY comparison DESC, metric = 'mini-GenEval', metric;
