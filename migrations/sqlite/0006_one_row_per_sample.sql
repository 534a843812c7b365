-- A sample is one row: the seven standard metrics each in a column of its
-- own (NULL where the sample lacks it), any other names in `extra`, a JSON
-- object. A heartbeat was seven rows, each with its own index entries, and
-- those rows were most of what every heartbeat wrote.
ALTER TABLE cluster_metrics RENAME TO cluster_metrics_by_name;

CREATE TABLE cluster_metrics (
    cluster_id            TEXT NOT NULL,
    node_id               TEXT NOT NULL,
    recorded_at           INTEGER NOT NULL,
    cpu_usage_percent     REAL,
    memory_usage_percent  REAL,
    disk_usage_percent    REAL,
    load_average          REAL,
    network_rx_mbps       REAL,
    network_tx_mbps       REAL,
    process_count         REAL,
    extra                 TEXT
);

INSERT INTO cluster_metrics
SELECT cluster_id, node_id, recorded_at,
    MAX(CASE WHEN name = 'cpu_usage_percent' THEN value END),
    MAX(CASE WHEN name = 'memory_usage_percent' THEN value END),
    MAX(CASE WHEN name = 'disk_usage_percent' THEN value END),
    MAX(CASE WHEN name = 'load_average' THEN value END),
    MAX(CASE WHEN name = 'network_rx_mbps' THEN value END),
    MAX(CASE WHEN name = 'network_tx_mbps' THEN value END),
    MAX(CASE WHEN name = 'process_count' THEN value END),
    NULLIF(json_group_object(name, value) FILTER (WHERE name NOT IN (
        'cpu_usage_percent', 'memory_usage_percent', 'disk_usage_percent', 'load_average',
        'network_rx_mbps', 'network_tx_mbps', 'process_count')), '{}')
FROM cluster_metrics_by_name
GROUP BY cluster_id, node_id, recorded_at
ORDER BY recorded_at;

DROP TABLE cluster_metrics_by_name;

CREATE INDEX cluster_metrics_node_time_idx ON cluster_metrics (node_id, recorded_at);
CREATE INDEX cluster_metrics_time_idx ON cluster_metrics (recorded_at);
