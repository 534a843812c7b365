-- Join tokens: an agent trades one for a node of its own and a node token.
CREATE TABLE cluster_join_tokens (
    id            TEXT PRIMARY KEY NOT NULL,
    cluster_id    TEXT NOT NULL REFERENCES clusters (id),
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    last_used_at  INTEGER,
    uses          INTEGER NOT NULL DEFAULT 0,
    revoked_at    INTEGER
);
CREATE INDEX cluster_join_tokens_cluster_idx ON cluster_join_tokens (cluster_id);
