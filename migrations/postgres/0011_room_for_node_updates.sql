-- Room on each page of cluster_nodes for the next version of its rows. Every
-- heartbeat rewrites its node's row (about 1.4 KB). With full pages about
-- half the new versions went to another page, which gave each of the
-- table's indexes a new entry and left the table many times its size. With
-- half of each page free, the new version stays on its page (a HOT update)
-- and no index is touched. Pages already written keep their layout until
-- they are rewritten.
ALTER TABLE cluster_nodes SET (fillfactor = 50);
