-- claim: MIRO reaches the baseline's final value of each reward sooner
-- verdict: all
-- paper: 19x sooner on aesthetic, 6.2x HPSv2, 3.5x PickScore, 3.3x ImageReward (Figure 3).
-- From the periodic evaluations during training (EMA weights, held-out captions): the first
-- step from which MIRO stays at or above the baseline's value at its last step, and the ratio
-- of steps. Only rewards the baseline improved on during training are judged: noise inflates
-- some rewards (sharpness, colourfulness), so early noisy samples "reach" them without progress.
WITH m AS (UNPIVOT (SELECT step, COLUMNS('^eval_') FROM {{miro_train}}) ON COLUMNS('^eval_') INTO NAME metric VALUE value),
b AS (UNPIVOT (SELECT step, COLUMNS('^eval_') FROM {{baseline_train}}) ON COLUMNS('^eval_') INTO NAME metric VALUE value),
final AS (SELECT metric, arg_min(value, step) AS baseline_first, arg_max(value, step) AS baseline_final, max(step) AS baseline_steps FROM b GROUP BY metric),
stays AS (
  SELECT m.metric, m.step FROM m JOIN final f USING (metric)
  WHERE NOT EXISTS (SELECT 1 FROM m later WHERE later.metric = m.metric AND later.step >= m.step AND later.value < f.baseline_final)
),
reached AS (SELECT metric, min(step) AS miro_step FROM stays GROUP BY metric)
SELECT replace(f.metric, 'eval_', '') AS metric,
       round(f.baseline_first, 4) AS baseline_first,
       round(f.baseline_final, 4) AS baseline_final,
       f.baseline_steps,
       r.miro_step AS miro_reaches_at,
       round(f.baseline_steps / r.miro_step, 2) AS speedup,
       CASE WHEN f.baseline_final > f.baseline_first THEN coalesce(r.miro_step < f.baseline_steps, false) END AS holds
FROM final f LEFT JOIN reached r USING (metric)
ORDER BY metric;
