-- claim: MIRO beats the baseline on every reward and on mini-GenEval at equal training steps
-- verdict: all
-- paper: MIRO improves every reward and GenEval over the baseline (Tables 1-2).
-- Two fair comparisons on the same prompts, seeds and sampling steps: both models unguided
-- (MIRO at w = 0 with every target 1, against the baseline without guidance), and both with
-- their best guidance (MIRO's reward guidance at its default w, against the baseline's text-only
-- guidance at the same w). Rewards are mean levels (the score's bin target under the dataset's
-- edges, 0..1); mini-GenEval is the mean of tag accuracies, next to its chance control: the same
-- images judged against prompts shuffled within each tag. A row holds when MIRO's lead clears a
-- 95% interval (a Poisson bootstrap over prompts, 200 resamples, paired by prompt), and, for
-- mini-GenEval, when MIRO is also above its own chance control.
WITH e AS (
  SELECT *, CASE WHEN setting IN ('w0', 'none') THEN 'unguided' WHEN setting IN ('default', 'text') THEN 'guided' END AS comparison
  FROM {{evaluations}}
  WHERE sample_index = 0 AND ((variant = 'miro' AND setting IN ('w0', 'default')) OR (variant = 'baseline' AND setting IN ('none', 'text')))
),
levels AS (UNPIVOT (SELECT comparison, variant, prompt_id, COLUMNS('_level$') FROM e) ON COLUMNS('_level$') INTO NAME metric VALUE level),
-- One row per (comparison, metric, prompt): MIRO's value minus the baseline's on that prompt; for
-- mini-GenEval the tag is the stratum (its score is the mean of tag means).
paired AS (
  SELECT comparison, replace(metric, '_level', '') AS metric, prompt_id, 'all' AS stratum,
         avg(level) FILTER (WHERE variant = 'miro') AS m, avg(level) FILTER (WHERE variant = 'baseline') AS b
  FROM levels GROUP BY ALL
  UNION ALL
  SELECT comparison, 'mini-GenEval', prompt_id, any_value(tag),
         avg(geneval_correct::INT) FILTER (WHERE variant = 'miro'), avg(geneval_correct::INT) FILTER (WHERE variant = 'baseline')
  FROM e WHERE geneval_correct IS NOT NULL GROUP BY comparison, prompt_id
),
d AS (SELECT *, m - b AS diff FROM paired WHERE m IS NOT NULL AND b IS NOT NULL),
-- Poisson(1) resampling weights from a hash of (prompt, resample): the same in every run.
boot AS (
  SELECT comparison, metric, stratum, r, sum(w * diff) / nullif(sum(w), 0) AS mean_diff
  FROM (
    SELECT comparison, metric, stratum, diff, range AS r,
           CASE WHEN u < 0.36788 THEN 0 WHEN u < 0.73576 THEN 1 WHEN u < 0.91970 THEN 2 WHEN u < 0.98101 THEN 3 WHEN u < 0.99634 THEN 4 ELSE 5 END AS w
    FROM (SELECT d.*, r.range, hash(d.prompt_id || ':' || r.range) / 18446744073709551616.0 AS u FROM d CROSS JOIN range(200) r)
  ) GROUP BY ALL
),
ci AS (
  SELECT comparison, metric, quantile_cont(mean_diff, 0.025) AS lower, quantile_cont(mean_diff, 0.975) AS upper
  FROM (SELECT comparison, metric, r, avg(mean_diff) AS mean_diff FROM boot GROUP BY ALL) GROUP BY ALL
),
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
       round(ci.lower, 3) AS ci_lower, round(ci.upper, 3) AS ci_upper,
       round(miro_chance, 3) AS miro_chance, round(baseline_chance, 3) AS baseline_chance,
       CASE WHEN ci.lower IS NOT NULL THEN ci.lower > 0 AND (miro_chance IS NULL OR miro > miro_chance) END AS holds
FROM (SELECT * FROM rewards UNION ALL SELECT * FROM geneval) x LEFT JOIN ci USING (comparison, metric)
ORDER BY comparison DESC, metric = 'mini-GenEval', metric;
