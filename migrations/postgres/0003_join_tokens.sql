-- Join tokens: an agent trades one for a node of its own and a node token.
CREATE TABLE cluster_join_tokens (
    id            TEXT PRIMARY KEY,
    cluster_id    TEXT NOT NULL REFERENCES clusters (id),
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ,
    last_used_at  TIMESTAMPTZ,
    uses          BIGINT NOT NULL DEFAULT 0,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX cluster_join_tokens_cluster_idx ON cluster_join_tokens (cluster_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON cluster_join_tokens TO muster_request;
ALTER TABLE cluster_join_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE cluster_join_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY cluster_join_tokens_in_scope ON cluster_join_tokens
    USING (muster_may_see(cluster_id)) WITH CHECK (muster_may_see(cluster_id));
