-- claim: Guiding one reward alone (only:<reward>) raises that reward more than the others
-- verdict: all
-- paper: s- = 1 except the chosen reward at 0 isolates its effect (Section 4.4).
-- Gain of each reward's level over unguided sampling (w0), for its own only:<reward> setting,
-- against the mean gain of the other rewards under that setting.
WITH e AS (SELECT * FROM {{evaluations}} WHERE variant = 'miro' AND (setting LIKE 'only_%' OR setting = 'w0') AND sample_index = 0),
levels AS (UNPIVOT (SELECT setting, COLUMNS('_level$') FROM e) ON COLUMNS('_level$') INTO NAME metric VALUE level),
l AS (SELECT setting, replace(metric, '_level', '') AS reward, avg(level) AS level FROM levels GROUP BY ALL),
base AS (SELECT reward, level AS base FROM l WHERE setting = 'w0'),
gains AS (SELECT replace(setting, 'only_', '') AS guided, reward, level - base AS gain FROM l JOIN base USING (reward) WHERE setting LIKE 'only_%')
SELECT guided AS reward,
       round(avg(gain) FILTER (WHERE reward = guided), 3) AS own_gain,
       round(avg(gain) FILTER (WHERE reward <> guided), 3) AS others_mean_gain,
       -- A rise it caused: the own gain is positive (at the levels' 3-decimal resolution) and above the others'.
       round(avg(gain) FILTER (WHERE reward = guided), 3) > 0
         AND avg(gain) FILTER (WHERE reward = guided) > avg(gain) FILTER (WHERE reward <> guided) AS holds
FROM gains GROUP BY guided ORDER BY guided;
