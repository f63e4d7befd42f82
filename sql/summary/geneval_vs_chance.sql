-- mini-GenEval of every model and setting next to its chance control (the same images judged
-- against prompts shuffled across samples): the margin is what the model draws on purpose.
WITH tags AS (
  SELECT variant, setting, tag, avg(geneval_correct::INT) AS acc, avg(geneval_shuffled_correct::INT) AS chance
  FROM {{evaluations}}
  WHERE geneval_correct IS NOT NULL AND sample_index = 0
  GROUP BY ALL
)
SELECT variant, setting, round(avg(acc), 3) AS geneval, round(avg(chance), 3) AS chance, round(avg(acc) - avg(chance), 3) AS above_chance
FROM tags
GROUP BY ALL
ORDER BY variant DESC, setting
