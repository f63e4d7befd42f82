-- claim: Reward guidance raises the rewards as w grows from 0 to 7
-- verdict: all
-- paper: multi-reward classifier-free guidance trades diversity for reward (Section 4.3).
-- MIRO samples under s+ = 1, s- = 0 at each w; mean level over all rewards, and mini-GenEval
-- with its chance control (the same images judged against prompts shuffled within each tag).
-- The trend is checked over its whole length: each w holds when its mean level is above the
-- previous w's, so a peak in the middle does not pass.
WITH e AS (SELECT *, try_cast(replace(setting, 'w', '') AS DOUBLE) AS w FROM {{evaluations}} WHERE variant = 'miro' AND setting SIMILAR TO 'w[0-9.]+' AND sample_index = 0),
levels AS (UNPIVOT (SELECT w, COLUMNS('_level$') FROM e) ON COLUMNS('_level$') INTO NAME metric VALUE level),
per_w AS (SELECT w, avg(level) AS mean_level FROM levels GROUP BY w),
tags AS (SELECT w, tag, avg(geneval_correct::INT) AS acc, avg(geneval_shuffled_correct::INT) AS chance FROM e WHERE geneval_correct IS NOT NULL GROUP BY ALL),
g AS (SELECT w, avg(acc) AS geneval, avg(chance) AS geneval_chance FROM tags GROUP BY w),
trend AS (SELECT w, mean_level, lag(mean_level) OVER (ORDER BY w) AS previous FROM per_w)
SELECT w, round(mean_level, 3) AS mean_level, round(previous, 3) AS previous_w_level, round(geneval, 3) AS geneval, round(geneval_chance, 3) AS geneval_chance,
       CASE WHEN previous IS NOT NULL THEN mean_level > previous END AS holds
FROM trend LEFT JOIN g USING (w)
WHERE previous IS NOT NULL
ORDER BY w;
