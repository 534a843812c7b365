-- Row-level security: defence in depth under the application's own tenant filter.
--
-- The server runs migrations as the database URL's user (who owns the tables)
-- and serves requests as `muster_request`, a role that owns nothing, switched to
-- with SET ROLE on every pooled connection. Each request's transaction states
-- what its caller may see with set_config('muster.scope', …, true):
--   '*'             everything (admins, unscoped users, background jobs)
--   'tnt_a,tnt_b'   the clusters hosting these tenants, and only their nodes,
--                   events and metrics
--   '' or unset     nothing
-- Rows of clusters, nodes, events and metrics outside the scope are invisible and
-- cannot be written. FORCE makes the policies bind the owner too: a later
-- migration that changes these rows must first SET LOCAL muster.scope = '*'.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'muster_request') THEN
        CREATE ROLE muster_request NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION
    -- Another database on the same server created it at the same moment.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'muster_request', 'MEMBER') THEN
        GRANT muster_request TO CURRENT_USER;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO muster_request;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    cluster_config_templates, clusters, cluster_nodes, cluster_events, cluster_metrics,
    cluster_metric_rollups, metric_rollup_watermarks, tenants, cluster_tenants, users,
    user_tenants, sessions, login_failures, api_tokens
TO muster_request;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO muster_request;

-- Whether the current transaction's caller may see the cluster with id $1.
CREATE FUNCTION muster_may_see(TEXT) RETURNS BOOLEAN
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE COALESCE(current_setting('muster.scope', true), '')
        WHEN '*' THEN TRUE
        WHEN '' THEN FALSE
        ELSE $1 IS NOT NULL AND EXISTS (
            SELECT 1 FROM cluster_tenants ct
            WHERE ct.cluster_id = $1
              AND ct.tenant_id = ANY (string_to_array(current_setting('muster.scope', true), ',')))
    END
$$;

ALTER TABLE clusters ENABLE ROW LEVEL SECURITY;
ALTER TABLE clusters FORCE ROW LEVEL SECURITY;
CREATE POLICY clusters_in_scope ON clusters
    USING (muster_may_see(id)) WITH CHECK (muster_may_see(id));

ALTER TABLE cluster_nodes ENABLE ROW LEVEL SECURITY;
ALTER TABLE cluster_nodes FORCE ROW LEVEL SECURITY;
CREATE POLICY cluster_nodes_in_scope ON cluster_nodes
    USING (muster_may_see(cluster_id)) WITH CHECK (muster_may_see(cluster_id));

-- Events without a cluster (sign-ins, users, tenants) are seen only with '*'.
ALTER TABLE cluster_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE cluster_events FORCE ROW LEVEL SECURITY;
CREATE POLICY cluster_events_in_scope ON cluster_events
    USING (muster_may_see(cluster_id)) WITH CHECK (muster_may_see(cluster_id));

ALTER TABLE cluster_metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE cluster_metrics FORCE ROW LEVEL SECURITY;
CREATE POLICY cluster_metrics_in_scope ON cluster_metrics
    USING (muster_may_see(cluster_id)) WITH CHECK (muster_may_see(cluster_id));

ALTER TABLE cluster_metric_rollups ENABLE ROW LEVEL SECURITY;
ALTER TABLE cluster_metric_rollups FORCE ROW LEVEL SECURITY;
CREATE POLICY cluster_metric_rollups_in_scope ON cluster_metric_rollups
    USING (muster_may_see(cluster_id)) WITH CHECK (muster_may_see(cluster_id));
