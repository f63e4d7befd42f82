-- claim: Lowering one reward's target trades that reward for compositional accuracy
-- verdict: any
-- paper: an aesthetic target of 0.625 instead of 1 raised GenEval from 68 to 75 (Figure 12).
-- MIRO samples with s+ = 1 except one reward at the target value; that reward's level and
-- mini-GenEval per target. Holds when some target below 1 scores higher on mini-GenEval than 1,
-- and above its own chance control (the same images against prompts shuffled within each tag).
WITH e AS (SELECT *, try_cast(replace(setting, 'target_', '') AS DOUBLE) AS target FROM {{evaluations}} WHERE variant = 'miro' AND setting LIKE 'target_%' AND sample_index = 0),
r AS (SELECT target, avg({{target_reward}}_level) AS reward_level FROM e GROUP BY target),
tags AS (SELECT target, tag, avg(geneval_correct::INT) AS acc, avg(geneval_shuffled_correct::INT) AS chance FROM e WHERE geneval_correct IS NOT NULL GROUP BY ALL),
g AS (SELECT target, avg(acc) AS geneval, avg(chance) AS geneval_chance FROM tags GROUP BY target)
SELECT target, '{{target_reward}}' AS reward, round(reward_level, 3) AS reward_level, round(geneval, 3) AS geneval, round(geneval_chance, 3) AS geneval_chance,
       target < 1 AND geneval > (SELECT geneval FROM g WHERE target = 1) AND geneval > geneval_chance AS holds
FROM r LEFT JOIN g USING (target)
ORDER BY target;
