-- Each node's top processes as its latest heartbeat reported them, a JSON
-- array written with the rest of the heartbeat in one statement.
ALTER TABLE cluster_nodes ADD COLUMN processes JSONB;
