-- The operations history: every run of a catalog operation, who ran it, with
-- which parameters, and how it ended. Agent-side runs wait here (pending, then
-- delivered) until their agent reports or they time out.
CREATE TABLE operations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    operation     TEXT NOT NULL,
    cluster_id    TEXT NOT NULL,
    node_id       TEXT,
    params        TEXT NOT NULL DEFAULT '{}',
    forced        INTEGER NOT NULL DEFAULT 0,
    actor         TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    rate_class    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'succeeded', 'failed', 'timed_out')),
    result        TEXT NOT NULL DEFAULT '',
    output        TEXT NOT NULL DEFAULT '{}',
    term          INTEGER,
    created_at    INTEGER NOT NULL,
    delivered_at  INTEGER,
    expires_at    INTEGER,
    finished_at   INTEGER,
    duration_ms   INTEGER
);
CREATE INDEX operations_cluster_idx ON operations (cluster_id, id);
CREATE INDEX operations_node_idx ON operations (node_id, id);
CREATE INDEX operations_actor_idx ON operations (actor_id, rate_class, created_at);
-- Agent-side runs still waiting: read on every heartbeat batch, so kept tiny.
CREATE INDEX operations_waiting_idx ON operations (node_id, status) WHERE status IN ('pending', 'delivered');
