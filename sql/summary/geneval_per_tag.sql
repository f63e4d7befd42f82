-- mini-GenEval per tag for the settings the first claim compares (MIRO unguided and guided, the
-- baseline unguided and text-guided): each tag's accuracy next to its own chance (the same
-- images against prompts shuffled within the tag), over n prompts.
SELECT variant, setting, tag, count(*) AS n,
       round(avg(geneval_correct::INT), 3) AS accuracy,
       round(avg(geneval_shuffled_correct::INT), 3) AS chance
FROM {{evaluations}}
WHERE geneval_correct IS NOT NULL AND sample_index = 0 AND setting IN ('w0', 'default', 'none', 'text')
GROUP BY ALL
ORDER BY variant DESC, setting, tag
