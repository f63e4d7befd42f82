-- claim: MIRO reaches the baseline's final value of each reward, and of mini-GenEval, sooner
-- verdict: all
-- paper: 19x sooner on aesthetic, 6.2x HPSv2, 3.5x PickScore, 3.3x ImageReward (Figure 3).
-- From the periodic evaluations during training (EMA weights, held-out captions, and 10
-- mini-GenEval prompts a tag): the first step from which MIRO stays at or above the baseline's
-- value at its last step, and the ratio of steps. Only what the baseline improved on during
-- training is judged (noise inflates some rewards, so early noisy samples "reach" them without
-- progress), and mini-GenEval only where the baseline's final value clears its chance control
-- (the same images against prompts shuffled within each tag) and MIRO's value where it reaches
-- it clears MIRO's own; elsewhere the row is not judged (NULL), which does not count as holding.
WITH m AS (UNPIVOT (SELECT * EXCLUDE (eval_geneval_chance) FROM (SELECT step, COLUMNS('^eval_') FROM {{miro_train}})) ON COLUMNS('^eval_') INTO NAME metric VALUE value),
b AS (UNPIVOT (SELECT * EXCLUDE (eval_geneval_chance) FROM (SELECT step, COLUMNS('^eval_') FROM {{baseline_train}})) ON COLUMNS('^eval_') INTO NAME metric VALUE value),
final AS (SELECT metric, arg_min(value, step) AS baseline_first, arg_max(value, step) AS baseline_final, max(step) AS baseline_steps FROM b GROUP BY metric),
stays AS (
  SELECT m.metric, m.step FROM m JOIN final f USING (metric)
  WHERE NOT EXISTS (SELECT 1 FROM m later WHERE later.metric = m.metric AND later.step >= m.step AND later.value < f.baseline_final)
),
reached AS (SELECT metric, min(step) AS miro_step FROM stays GROUP BY metric),
chance AS (
  SELECT 'eval_geneval' AS metric,
         (SELECT arg_max(eval_geneval_chance, step) FROM {{baseline_train}}) AS baseline_final_chance,
         (SELECT eval_geneval - eval_geneval_chance FROM {{miro_train}} WHERE step = (SELECT miro_step FROM reached WHERE metric = 'eval_geneval')) AS miro_margin
)
SELECT replace(f.metric, 'eval_', '') AS metric,
       round(f.baseline_first, 4) AS baseline_first,
       round(f.baseline_final, 4) AS baseline_final,
       round(c.baseline_final_chance, 4) AS baseline_final_chance,
       f.baseline_steps,
       r.miro_step AS miro_reaches_at,
       round(f.baseline_steps / r.miro_step, 2) AS speedup,
       CASE
         WHEN f.baseline_final <= f.baseline_first THEN NULL
         WHEN f.metric = 'eval_geneval' AND NOT (f.baseline_final > c.baseline_final_chance) THEN NULL
         WHEN f.metric = 'eval_geneval' THEN coalesce(r.miro_step < f.baseline_steps AND c.miro_margin > 0, false)
         ELSE coalesce(r.miro_step < f.baseline_steps, false)
       END AS holds
FROM final f LEFT JOIN reached r USING (metric) LEFT JOIN chance c USING (metric)
ORDER BY metric;
