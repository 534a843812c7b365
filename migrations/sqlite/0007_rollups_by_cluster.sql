-- Rollups by cluster and time, so that the retention job finds each
-- cluster's expired rollups directly. Without it the job read every rollup
-- (at 5,000 nodes and 7 days, hundreds of millions of rows) once a minute.
CREATE INDEX cluster_metric_rollups_cluster_time_idx ON cluster_metric_rollups (cluster_id, bucket_start);
