-- Muster schema, SQLite flavour. Times are INTEGER milliseconds since the Unix
-- epoch (UTC) so that ordering and range scans use plain integer comparisons.

CREATE TABLE cluster_config_templates (
    name            TEXT PRIMARY KEY NOT NULL,
    environment     TEXT NOT NULL CHECK (environment IN ('development', 'staging', 'production')),
    description     TEXT NOT NULL DEFAULT '',
    max_nodes       INTEGER NOT NULL CHECK (max_nodes >= 1),
    max_tenants     INTEGER NOT NULL CHECK (max_tenants >= 1),
    max_storage_gb  INTEGER NOT NULL CHECK (max_storage_gb >= 1),
    config          TEXT NOT NULL,
    builtin         INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE clusters (
    id                   TEXT PRIMARY KEY NOT NULL,
    name                 TEXT NOT NULL,
    description          TEXT NOT NULL DEFAULT '',
    region               TEXT NOT NULL,
    environment          TEXT NOT NULL CHECK (environment IN ('development', 'staging', 'production')),
    status               TEXT NOT NULL DEFAULT 'provisioning',
    health_score         REAL NOT NULL DEFAULT 0,
    max_nodes            INTEGER NOT NULL CHECK (max_nodes >= 1),
    max_tenants          INTEGER NOT NULL CHECK (max_tenants >= 1),
    max_storage_gb       INTEGER NOT NULL CHECK (max_storage_gb >= 1),
    config               TEXT NOT NULL,
    template_name        TEXT,
    primary_node_id      TEXT,
    coordinator_node_id  TEXT,
    term                 INTEGER NOT NULL DEFAULT 0,
    next_node_seq        INTEGER NOT NULL DEFAULT 1,
    maintenance          INTEGER NOT NULL DEFAULT 0,
    ever_online          INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    decommissioned_at    INTEGER
);
CREATE UNIQUE INDEX clusters_name_key ON clusters (name) WHERE decommissioned_at IS NULL;
CREATE INDEX clusters_status_idx ON clusters (status, id);
CREATE INDEX clusters_environment_idx ON clusters (environment, id);
CREATE INDEX clusters_region_idx ON clusters (region, id);

CREATE TABLE cluster_nodes (
    id                     TEXT PRIMARY KEY NOT NULL,
    cluster_id             TEXT NOT NULL REFERENCES clusters (id),
    seq                    INTEGER NOT NULL,
    name                   TEXT NOT NULL,
    hostname               TEXT NOT NULL DEFAULT '',
    region                 TEXT NOT NULL DEFAULT '',
    availability_zone      TEXT NOT NULL DEFAULT '',
    status                 TEXT NOT NULL DEFAULT 'provisioning',
    health_status          TEXT NOT NULL DEFAULT 'unknown',
    is_primary             INTEGER NOT NULL DEFAULT 0,
    is_coordinator         INTEGER NOT NULL DEFAULT 0,
    cordoned               INTEGER NOT NULL DEFAULT 0,
    priority               INTEGER NOT NULL DEFAULT 50,
    roles                  TEXT NOT NULL DEFAULT '[]',
    capacity_cpu           REAL NOT NULL,
    capacity_memory_gb     REAL NOT NULL,
    capacity_storage_gb    REAL NOT NULL,
    capacity_network_mbps  REAL NOT NULL DEFAULT 0,
    token_hash             TEXT,
    last_heartbeat_at      INTEGER,
    last_cpu_percent       REAL,
    last_memory_percent    REAL,
    last_disk_percent      REAL,
    last_sample_at         INTEGER,
    maintenance_reason     TEXT,
    maintenance_until      INTEGER,
    last_seq               INTEGER,
    system_info            TEXT,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    status_changed_at      INTEGER NOT NULL,
    CONSTRAINT cluster_nodes_seq_key UNIQUE (cluster_id, seq)
);
CREATE UNIQUE INDEX cluster_nodes_name_key ON cluster_nodes (cluster_id, name) WHERE status <> 'decommissioned';
CREATE UNIQUE INDEX cluster_nodes_token_key ON cluster_nodes (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX cluster_nodes_status_idx ON cluster_nodes (status);

CREATE TABLE cluster_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster_id  TEXT,
    node_id     TEXT,
    event_type  TEXT NOT NULL,
    category    TEXT NOT NULL CHECK (category IN ('system', 'health', 'coordination', 'security', 'lifecycle', 'configuration')),
    severity    TEXT NOT NULL CHECK (severity IN ('debug', 'info', 'warning', 'error', 'critical')),
    message     TEXT NOT NULL,
    details     TEXT NOT NULL DEFAULT '{}',
    actor       TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX cluster_events_cluster_idx ON cluster_events (cluster_id, id);
CREATE INDEX cluster_events_node_idx ON cluster_events (node_id, id);
CREATE INDEX cluster_events_created_idx ON cluster_events (created_at);

CREATE TABLE cluster_metrics (
    cluster_id   TEXT NOT NULL,
    node_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    value        REAL NOT NULL,
    recorded_at  INTEGER NOT NULL
);
CREATE INDEX cluster_metrics_node_name_time_idx ON cluster_metrics (node_id, name, recorded_at);
CREATE INDEX cluster_metrics_time_idx ON cluster_metrics (recorded_at);

-- 1-minute and 1-hour rollups of cluster_metrics, kept for the cluster's retention.
CREATE TABLE cluster_metric_rollups (
    cluster_id    TEXT NOT NULL,
    node_id       TEXT NOT NULL,
    name          TEXT NOT NULL,
    step          TEXT NOT NULL CHECK (step IN ('1m', '1h')),
    bucket_start  INTEGER NOT NULL,
    min_value     REAL NOT NULL,
    max_value     REAL NOT NULL,
    avg_value     REAL NOT NULL,
    sample_count  INTEGER NOT NULL,
    PRIMARY KEY (node_id, name, step, bucket_start)
);
CREATE INDEX cluster_metric_rollups_time_idx ON cluster_metric_rollups (step, bucket_start);

-- How far each rollup step has been computed: buckets before up_to are final.
CREATE TABLE metric_rollup_watermarks (
    step   TEXT PRIMARY KEY CHECK (step IN ('1m', '1h')),
    up_to  INTEGER NOT NULL
);

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE cluster_tenants (
    cluster_id  TEXT NOT NULL REFERENCES clusters (id),
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, tenant_id)
);
CREATE INDEX cluster_tenants_tenant_idx ON cluster_tenants (tenant_id);

CREATE TABLE users (
    id             TEXT PRIMARY KEY NOT NULL,
    username       TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE user_tenants (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    PRIMARY KEY (user_id, tenant_id)
);

-- Sign-in sessions (tower-sessions records, JSON), with their user so that a
-- password change or a disabled account can end every session of that user.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    data         TEXT NOT NULL,
    expiry_date  INTEGER NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expiry_idx ON sessions (expiry_date);

-- Failed sign-ins, by account ("user:<name>") and by client address
-- ("addr:<ip>"), counted to throttle guessing across every replica.
CREATE TABLE login_failures (
    key        TEXT NOT NULL,
    failed_at  INTEGER NOT NULL
);
CREATE INDEX login_failures_key_time_idx ON login_failures (key, failed_at);

-- API tokens for automation: stored hashed, carrying their user's role and scope.
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);
