-- claim: A reward's level follows its target: samples asked for 1 score higher than samples asked for 0
-- verdict: all
-- paper: the reward vector is a dial; raising one target raises that reward (Figures 12-13).
-- From the target sweep of claim 5: the swept reward's level at target 1 minus at target 0, on the
-- [0, 1] level scale. Stated threshold: the difference is at least 0.02.
WITH e AS (SELECT *, try_cast(replace(setting, 'target_', '') AS DOUBLE) AS target FROM {{evaluations}} WHERE variant = 'miro' AND setting LIKE 'target_%' AND sample_index = 0),
r AS (SELECT target, avg({{target_reward}}_level) AS level FROM e GROUP BY target)
SELECT '{{target_reward}}' AS reward,
       round((SELECT level FROM r WHERE target = 0), 3) AS level_at_0,
       round((SELECT level FROM r WHERE target = 1), 3) AS level_at_1,
       round((SELECT level FROM r WHERE target = 1) - (SELECT level FROM r WHERE target = 0), 3) AS difference,
       (SELECT level FROM r WHERE target = 1) - (SELECT level FROM r WHERE target = 0) >= 0.02 AS holds;
