-- Node rows as every heartbeat rewrites them.
--
-- Room on each page for the next version of a row. A heartbeat rewrites its
-- node's row (about 1.4 KB). With full pages about half the new versions
-- went to another page, which gave each of the table's indexes a new entry
-- and left the table many times its size. With half of each page free, the
-- new version stays on its page (a HOT update) and no index is touched.
ALTER TABLE cluster_nodes SET (fillfactor = 50);

-- The host's facts as the server writes them, read only by the server: as
-- JSONB every heartbeat's copy was parsed into a binary document. Changing
-- the type also rewrites the table, with the room above.
ALTER TABLE cluster_nodes ALTER COLUMN system_info TYPE TEXT USING system_info::text;
