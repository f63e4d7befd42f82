-- claim: With best-of-N, MIRO needs fewer samples than the baseline for the same reward
-- verdict: any
-- paper: MIRO with 4 samples matches the baseline with 128 on PickScore (Figure 9).
-- Per prompt, the best of the first N samples by {{best_of_reward}} (level), averaged over prompts.
WITH e AS (SELECT * FROM {{evaluations}} WHERE setting = 'bestof'),
n AS (SELECT unnest([1, 2, 4, 8]) AS n),
best AS (
  SELECT variant, n, prompt_id, max({{best_of_reward}}_level) AS best
  FROM e JOIN n ON e.sample_index < n.n
  GROUP BY ALL
),
curve AS (
  SELECT n, avg(best) FILTER (WHERE variant = 'miro') AS miro, avg(best) FILTER (WHERE variant = 'baseline') AS baseline
  FROM best GROUP BY n
)
SELECT n, '{{best_of_reward}}' AS reward, round(miro, 3) AS miro, round(baseline, 3) AS baseline,
       -- Judged only where best-of-N helps the baseline at all (its best of 8 above its best of 1):
       -- otherwise equal zeros would "match".
       CASE WHEN n < 8 AND (SELECT max(baseline) FROM curve) > (SELECT baseline FROM curve WHERE n = 1)
            THEN miro >= (SELECT max(baseline) FROM curve) END AS holds
FROM curve ORDER BY n;
