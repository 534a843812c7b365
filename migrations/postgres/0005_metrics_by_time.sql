-- Raw samples indexed by node, then time, then name: a heartbeat's samples sit
-- side by side, so writing them touches one index page per node rather than
-- one per metric name. Reads of one metric scan the node's time range and
-- filter by name inside the index.
DROP INDEX cluster_metrics_node_name_time_idx;
CREATE INDEX cluster_metrics_node_time_name_idx ON cluster_metrics (node_id, recorded_at, name);
