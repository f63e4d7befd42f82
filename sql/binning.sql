-- MIRO reward binning: per reward, B+1 edges at equally spaced quantiles of the distinct scores of
-- a calibration subset (the first and last forced to -/+DBL_MAX; uniform edges between min and max
-- when there are fewer than B+1 distinct values), and target = max(0, bucketize - 1) / (B - 1), a
-- missing score staying NULL. The `bins` stage fills the {{...}}
-- placeholders. Bins come from miro_bins_* functions that the stage registers
-- (src/binning/duckdb-function.ts): a binary search over a reward's edges that counts the edges
-- strictly below the score (torch.bucketize with right=False), several rewards packed per call.

-- query: calibration
-- A reproducible subset: the same ids and seed always give the same rows, in any order or sharding.
CREATE OR REPLACE TEMP TABLE calibration AS
SELECT id FROM read_parquet({{primary_files}})
ORDER BY md5(id || ':' || {{seed}}), id
LIMIT {{calibration_size}};

-- query: calibration_values
-- Every reward's scores on the calibration subset, one row per reward and calibration row.
CREATE OR REPLACE TEMP TABLE calibration_values AS
{{each_reward}};

-- query: calibration_values_of
-- One reward's part of calibration_values: failed rows, missing scores and NaN are NULL.
SELECT {{reward}} AS reward, CASE WHEN r.status = 'ok' AND NOT isnan(r.{{column}}) THEN r.{{column}} END AS v
FROM calibration c LEFT JOIN read_parquet({{files}}) r USING (id);

-- query: edge_candidates
-- Per reward: its distinct values, sorted (`s`), their count, min and max (what the fallback
-- needs), and the B+1 quantiles at p = i/B, interpolated linearly between the two nearest ranks
-- (numpy's and torch's 'linear'): position p * (n - 1), 1-based list indexes.
SELECT reward, len(s) AS distinct_values, s[1] AS lo, s[-1] AS hi,
  list_transform(
    list_transform({{probs}}, lambda p: p * (len(s) - 1)),
    lambda pos: s[floor(pos)::BIGINT + 1] + (s[least(len(s), floor(pos)::BIGINT + 2)] - s[floor(pos)::BIGINT + 1]) * (pos - floor(pos))
  ) AS q
FROM (SELECT reward, list_sort(list(DISTINCT v)) AS s FROM calibration_values WHERE v IS NOT NULL GROUP BY reward);

-- query: populations
-- Calibration rows per reward and bin under the final edges.
SELECT reward, bin, count(*) AS population
FROM ({{each_reward}})
GROUP BY ALL;

-- query: population_bins_of
-- One reward's part of populations.
SELECT {{reward}} AS reward, {{bin}} AS bin
FROM (SELECT {{packed}} FROM calibration_values WHERE reward = {{reward}} AND v IS NOT NULL);

-- query: assign_aligned
-- Per shard, when every input shard holds the same ids in the same order (score nodes mapped
-- from one source do, and every shard is written in id order): a positional join, no hashing,
-- and rows come out in id order. Inputs that disagree ask for assign_joined instead.
SELECT id{{targets}}
FROM (
  SELECT id{{bins}}
  FROM (
    SELECT t0.id{{packed}}
    FROM read_parquet({{primary_files}}) t0{{positional_joins}}
    WHERE CASE WHEN {{aligned}} THEN true ELSE error('{{fallback_signal}}: input shards hold different ids at the same positions') END
  )
);

-- query: assign_joined
-- The same, joined by id.
SELECT id{{targets}}
FROM (
  SELECT id{{bins}}
  FROM (SELECT t0.id{{packed}} FROM read_parquet({{primary_files}}) t0{{joins}})
);
