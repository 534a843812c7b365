-- A node's process list is stored as the server writes it: compact JSON text
-- (an array of [pid, name, user, cpu_percent, memory_bytes] arrays), read
-- only by the server. As JSONB every heartbeat's list was parsed into a
-- binary document and, with the field names of every process, made the node
-- row large enough to be moved out of line and compressed at each rewrite.
ALTER TABLE cluster_nodes ALTER COLUMN processes TYPE TEXT USING processes::text;
