-- title: Bin populations on the calibration subset
-- needs: bin_edges
-- Quantile edges give equal populations for continuous scores; ties and few distinct values do not.
SELECT reward,
       count(*) AS bins,
       any_value(distinct_values) AS distinct_values,
       sum(population) AS calibration_rows,
       min(population) AS min_population,
       max(population) AS max_population,
       count(*) FILTER (WHERE population = 0) AS empty_bins
FROM bin_edges
GROUP BY reward
ORDER BY reward;
