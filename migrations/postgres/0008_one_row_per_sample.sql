-- A sample is one row: the seven standard metrics each in a column of its
-- own (NULL where the sample lacks it), any other names in `extra`, a JSON
-- object. A heartbeat was seven rows, each with its own index entries, and
-- those rows were most of what every heartbeat wrote.
SET LOCAL muster.scope = '*';

ALTER TABLE cluster_metrics RENAME TO cluster_metrics_by_name;

CREATE TABLE cluster_metrics (
    cluster_id            TEXT NOT NULL,
    node_id               TEXT NOT NULL,
    recorded_at           TIMESTAMPTZ NOT NULL,
    cpu_usage_percent     DOUBLE PRECISION,
    memory_usage_percent  DOUBLE PRECISION,
    disk_usage_percent    DOUBLE PRECISION,
    load_average          DOUBLE PRECISION,
    network_rx_mbps       DOUBLE PRECISION,
    network_tx_mbps       DOUBLE PRECISION,
    process_count         DOUBLE PRECISION,
    extra                 JSONB
);

INSERT INTO cluster_metrics
SELECT cluster_id, node_id, recorded_at,
    MAX(value) FILTER (WHERE name = 'cpu_usage_percent'),
    MAX(value) FILTER (WHERE name = 'memory_usage_percent'),
    MAX(value) FILTER (WHERE name = 'disk_usage_percent'),
    MAX(value) FILTER (WHERE name = 'load_average'),
    MAX(value) FILTER (WHERE name = 'network_rx_mbps'),
    MAX(value) FILTER (WHERE name = 'network_tx_mbps'),
    MAX(value) FILTER (WHERE name = 'process_count'),
    jsonb_object_agg(name, value) FILTER (WHERE name NOT IN (
        'cpu_usage_percent', 'memory_usage_percent', 'disk_usage_percent', 'load_average',
        'network_rx_mbps', 'network_tx_mbps', 'process_count'))
FROM cluster_metrics_by_name
GROUP BY cluster_id, node_id, recorded_at
ORDER BY recorded_at;

DROP TABLE cluster_metrics_by_name;

CREATE INDEX cluster_metrics_node_time_idx ON cluster_metrics (node_id, recorded_at);
CREATE INDEX cluster_metrics_time_idx ON cluster_metrics USING BRIN (recorded_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON cluster_metrics TO muster_request;
ALTER TABLE cluster_metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE cluster_metrics FORCE ROW LEVEL SECURITY;
CREATE POLICY cluster_metrics_in_scope ON cluster_metrics
    USING (muster_may_see(cluster_id)) WITH CHECK (muster_may_see(cluster_id));
