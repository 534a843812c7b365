-- The operations history: every run of a catalog operation, who ran it, with
-- which parameters, and how it ended. Agent-side runs wait here (pending, then
-- delivered) until their agent reports or they time out.
CREATE TABLE operations (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operation     TEXT NOT NULL,
    cluster_id    TEXT NOT NULL,
    node_id       TEXT,
    params        JSONB NOT NULL DEFAULT '{}',
    forced        BOOLEAN NOT NULL DEFAULT FALSE,
    actor         TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    rate_class    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'succeeded', 'failed', 'timed_out')),
    result        TEXT NOT NULL DEFAULT '',
    output        JSONB NOT NULL DEFAULT '{}',
    term          BIGINT,
    created_at    TIMESTAMPTZ NOT NULL,
    delivered_at  TIMESTAMPTZ,
    expires_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    duration_ms   BIGINT
);
CREATE INDEX operations_cluster_idx ON operations (cluster_id, id);
CREATE INDEX operations_node_idx ON operations (node_id, id);
CREATE INDEX operations_actor_idx ON operations (actor_id, rate_class, created_at);
-- Agent-side runs still waiting: read on every heartbeat batch, so kept tiny.
CREATE INDEX operations_waiting_idx ON operations (node_id, status) WHERE status IN ('pending', 'delivered');

GRANT SELECT, INSERT, UPDATE, DELETE ON operations TO muster_request;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO muster_request;

ALTER TABLE operations ENABLE ROW LEVEL SECURITY;
ALTER TABLE operations FORCE ROW LEVEL SECURITY;
CREATE POLICY operations_in_scope ON operations
    USING (muster_may_see(cluster_id)) WITH CHECK (muster_may_see(cluster_id));
