-- MIRO reward binning (see ../shared/SPEC.md, Binning). The `bins` stage fills the {{...}}
-- placeholders; {{bucketize}} is a generated binary search over a reward's sorted edges that
-- returns how many edges lie strictly below the score (torch.bucketize with right=False).

-- query: calibration
-- A reproducible subset: the same ids and seed always give the same rows, in any order or sharding.
CREATE OR REPLACE TEMP TABLE calibration AS
SELECT id FROM read_parquet({{primary_files}})
ORDER BY md5(id || ':' || {{seed}}), id
LIMIT {{calibration_size}};

-- query: calibration_values
-- One reward's scores on the calibration subset; failed rows and missing scores are NULL.
CREATE OR REPLACE TEMP TABLE calibration_values AS
SELECT c.id, CASE WHEN r.status = 'ok' THEN r.{{column}} END AS v
FROM calibration c LEFT JOIN read_parquet({{files}}) r USING (id);

-- query: edge_candidates
-- B+1 quantiles (linear interpolation) of the distinct values, and what the fallback needs.
SELECT count(*) AS distinct_values, min(v) AS lo, max(v) AS hi, quantile_cont(v, {{probs}}) AS q
FROM (SELECT DISTINCT v FROM calibration_values WHERE v IS NOT NULL);

-- query: populations
-- Calibration rows per bin under the final edges.
SELECT bin, count(*) AS population
FROM (SELECT least({{max_bin}}, greatest(0, {{bucketize}} - 1)) AS bin FROM calibration_values WHERE v IS NOT NULL)
GROUP BY bin;

-- query: assign
-- Per shard: bin index and target in [0, 1] per reward; NULL stays NULL, never 0.
SELECT id{{targets}}
FROM (SELECT t0.id{{columns}} FROM read_parquet({{primary_files}}) t0{{joins}})
ORDER BY id;
