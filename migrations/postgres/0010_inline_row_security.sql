-- Row security's check, made cheap where the scope alone decides it. As one
-- SQL function with a sub-select it could not be inlined into the policies,
-- so PostgreSQL ran it through the SQL function executor for every row read
-- or written, twice for an update: most of what a heartbeat cost the
-- database. The tenant lookup is now a function of its own, called only for
-- callers scoped to tenants; the rest inlines into each policy.
CREATE FUNCTION muster_tenants_see(TEXT) RETURNS BOOLEAN
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (
        SELECT 1 FROM cluster_tenants ct
        WHERE ct.cluster_id = $1
          AND ct.tenant_id = ANY (string_to_array(current_setting('muster.scope', true), ',')))
$$;

CREATE OR REPLACE FUNCTION muster_may_see(TEXT) RETURNS BOOLEAN
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE COALESCE(current_setting('muster.scope', true), '')
        WHEN '*' THEN TRUE
        WHEN '' THEN FALSE
        ELSE $1 IS NOT NULL AND muster_tenants_see($1)
    END
$$;
