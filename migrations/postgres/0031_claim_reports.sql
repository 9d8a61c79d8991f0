-- What each node says it has in flight, for the claim under the shared limits (see
-- ARCHITECTURE.md, "Limits across nodes"). A node's requests are its leased rows, but
-- a row stays leased until the node's recorder writes the outcome, a batch (with its
-- WAL flush) behind the request's end: in the three-node benchmark the rows other
-- nodes had finished with but not yet recorded filled most of an endpoint's room, and
-- half the shared claims were refused for them.
--
-- So each shared claim also writes, for the endpoint and for the tenant, what the
-- claiming node had in flight just before it (its memory) and the lease end the claim
-- hands out. Another node is counted as the smaller of
--   * its unexpired leases, and
--   * its report plus its leases ending no earlier than the report's lease end: the
--     rows this claim and every later one took, by whatever path (a node that thinks
--     it is alone claims without reporting).
-- Both are at least what it really has in flight: a request it had before the report
-- can only have ended since, and every request holds its lease until recorded. A node
-- that says nothing (one of the previous release, calling `sluice_claim_shared`) is
-- counted by its leases, as before.
--
-- scope: an endpoint's or a tenant's id (their prefixes differ). The rows of a node
-- go when it stops, or when it is forgotten for not beating.
CREATE TABLE claim_reports (
    scope     TEXT NOT NULL,
    node_id   TEXT NOT NULL,
    in_flight BIGINT NOT NULL,
    lease_until_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, node_id)
);
CREATE INDEX claim_reports_node ON claim_reports (node_id);

-- What both claim functions answer, one row per claimed delivery (or one row with a
-- NULL id when nothing was claimed), each carrying the grant.
CREATE TYPE sluice_shared_claim AS (
    granted BIGINT, crowded BOOLEAN, now_us BIGINT, tat_us BIGINT,
    circuit_open_until_us BIGINT, circuit_probe_until_us BIGINT, circuit_probe_owner TEXT,
    id TEXT, message_id TEXT, endpoint_id TEXT, tenant_id TEXT, event_type TEXT,
    attempts BIGINT, retry_base BIGINT, lease_token BIGINT, next_trigger TEXT,
    payload TEXT, message_created_at BIGINT);

-- As `sluice_claim_shared` (0030, which says why it is one function), with this node's
-- requests in flight to the endpoint and for the tenant passed and reported, and the
-- other nodes counted as above. NULL figures (a caller of the previous release, below)
-- are not reported, and the maximums are then the room left.
CREATE FUNCTION sluice_claim_shared_v2(
    p_endpoint TEXT, p_tenant TEXT, p_owner TEXT, p_want BIGINT,
    p_endpoint_max BIGINT, p_tenant_max BIGINT, p_endpoint_here BIGINT, p_tenant_here BIGINT,
    p_interval_us BIGINT, p_tolerance_us BIGINT,
    p_now_ms BIGINT, p_lease_until_ms BIGINT)
RETURNS SETOF sluice_shared_claim
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    gate RECORD;
    v_now_us BIGINT;
    v_room BIGINT;
    v_crowded BOOLEAN;
    v_probe BOOLEAN := FALSE;
    v_claimed BIGINT := 0;
    v_others_endpoint BIGINT;
    v_others_tenant BIGINT;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true), set_config('lock_timeout', '1s', true);
    -- The tenant's row, as the statements it replaces locked it, so a node of the
    -- previous release claiming beside this one still queues on the same lock. NO KEY
    -- UPDATE does not conflict with the KEY SHARE locks publishing takes.
    PERFORM 1 FROM tenants t WHERE t.id = p_tenant FOR NO KEY UPDATE;
    SELECT p.tat_us, p.circuit_open_until_us, p.circuit_probe_until_us, p.circuit_probe_owner INTO gate
        FROM endpoint_pacing p WHERE p.endpoint_id = p_endpoint FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO endpoint_pacing (endpoint_id, tat_us) VALUES (p_endpoint, 0) ON CONFLICT DO NOTHING;
        SELECT p.tat_us, p.circuit_open_until_us, p.circuit_probe_until_us, p.circuit_probe_owner INTO gate
            FROM endpoint_pacing p WHERE p.endpoint_id = p_endpoint FOR UPDATE;
    END IF;
    v_now_us := CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT);

    -- What the other nodes have in flight: per node, the least of its unexpired
    -- leases and its report plus the leases taken since (see above).
    WITH leased AS (
        SELECT d.lease_owner AS node_id,
            COUNT(*) FILTER (WHERE d.endpoint_id = p_endpoint) AS at_endpoint,
            COUNT(*) FILTER (WHERE d.endpoint_id = p_endpoint AND d.next_attempt_at >= e.lease_until_ms)
                AS at_endpoint_since,
            MIN(e.in_flight) AS endpoint_report,
            COUNT(*) AS in_tenant,
            COUNT(*) FILTER (WHERE d.next_attempt_at >= t.lease_until_ms) AS in_tenant_since,
            MIN(t.in_flight) AS tenant_report
        FROM deliveries d
        LEFT JOIN claim_reports e ON e.scope = p_endpoint AND e.node_id = d.lease_owner
        LEFT JOIN claim_reports t ON t.scope = p_tenant AND t.node_id = d.lease_owner
        WHERE d.tenant_id = p_tenant AND d.state = 'pending'
        AND d.lease_owner IS NOT NULL AND d.lease_owner <> p_owner AND d.next_attempt_at > p_now_ms
        GROUP BY d.lease_owner)
    SELECT COALESCE(SUM(LEAST(at_endpoint, COALESCE(endpoint_report + at_endpoint_since, at_endpoint))), 0),
        COALESCE(SUM(LEAST(in_tenant, COALESCE(tenant_report + in_tenant_since, in_tenant))), 0)
        INTO v_others_endpoint, v_others_tenant
        FROM leased;
    v_room := GREATEST(0, LEAST(p_want, p_endpoint_max - COALESCE(p_endpoint_here, 0) - v_others_endpoint,
        p_tenant_max - COALESCE(p_tenant_here, 0) - v_others_tenant));
    v_crowded := v_room < p_want;

    -- The circuit, as `SharedCircuit::at` reads it.
    IF gate.circuit_open_until_us IS NULL THEN
        NULL; -- closed
    ELSIF v_now_us < gate.circuit_open_until_us THEN
        v_room := 0; -- open
    ELSIF gate.circuit_probe_until_us IS NOT NULL AND v_now_us < gate.circuit_probe_until_us THEN
        IF gate.circuit_probe_owner IS DISTINCT FROM p_owner THEN
            v_room := 0; -- another node's probe is under way
        END IF; -- else this node's own probe succeeded: closed for it
    ELSE
        v_room := LEAST(v_room, 1); -- half-open: one probe
        v_probe := TRUE;
    END IF;

    -- The rate limit, as `Pace::grant` reckons it.
    IF p_interval_us IS NOT NULL THEN
        v_room := LEAST(v_room, GREATEST(0,
            (v_now_us + p_tolerance_us - GREATEST(gate.tat_us, v_now_us)) / p_interval_us));
    END IF;

    IF v_room > 0 THEN
        RETURN QUERY
        WITH picked AS (
            SELECT d.id FROM deliveries d WHERE d.endpoint_id = p_endpoint
            AND d.state = 'pending' AND d.next_attempt_at <= p_now_ms
            AND d.tenant_id NOT IN (SELECT t.id FROM tenants t WHERE t.suspended_at IS NOT NULL)
            ORDER BY d.next_attempt_at LIMIT v_room FOR UPDATE SKIP LOCKED),
        claimed AS (
            -- The token is at least the database's clock in µs: the commit does not
            -- wait for the WAL flush, so a database crash can lose this claim, and the
            -- token it handed out must never be handed out again, or the fence in
            -- `record` would let the stale holder's outcome overwrite the next one's.
            UPDATE deliveries d SET next_attempt_at = p_lease_until_ms, lease_owner = p_owner,
                lease_token = GREATEST(d.lease_token + 1, v_now_us)
            FROM picked WHERE d.id = picked.id
            RETURNING d.id, d.message_id, d.endpoint_id, d.tenant_id, d.event_type, d.attempts,
                d.retry_base, d.lease_token, d.next_trigger)
        SELECT v_room, v_crowded, v_now_us, gate.tat_us, gate.circuit_open_until_us,
            gate.circuit_probe_until_us, gate.circuit_probe_owner,
            c.id, c.message_id, c.endpoint_id, c.tenant_id, c.event_type, c.attempts,
            c.retry_base, c.lease_token, c.next_trigger, m.payload, m.created_at
        FROM claimed c JOIN messages m ON m.id = c.message_id;
        GET DIAGNOSTICS v_claimed = ROW_COUNT;
        -- What was claimed is what the schedule is charged for, and only a claim that
        -- leased something holds the probe.
        IF v_claimed > 0 AND (p_interval_us IS NOT NULL OR v_probe) THEN
            UPDATE endpoint_pacing p SET
                tat_us = CASE WHEN p_interval_us IS NULL THEN p.tat_us
                    ELSE GREATEST(gate.tat_us, v_now_us) + v_claimed * p_interval_us END,
                circuit_probe_until_us = CASE WHEN v_probe
                    THEN v_now_us + (p_lease_until_ms - p_now_ms) * 1000 ELSE p.circuit_probe_until_us END,
                circuit_probe_owner = CASE WHEN v_probe THEN p_owner ELSE p.circuit_probe_owner END
            WHERE p.endpoint_id = p_endpoint;
        END IF;
    END IF;
    -- What this node had in flight before this claim, and the lease end it handed
    -- out, for the other nodes' next claims.
    IF p_endpoint_here IS NOT NULL THEN
        INSERT INTO claim_reports (scope, node_id, in_flight, lease_until_ms)
            VALUES (p_endpoint, p_owner, p_endpoint_here, p_lease_until_ms),
                (p_tenant, p_owner, p_tenant_here, p_lease_until_ms)
            ON CONFLICT (scope, node_id) DO UPDATE
            SET in_flight = EXCLUDED.in_flight, lease_until_ms = EXCLUDED.lease_until_ms;
    END IF;
    IF v_claimed > 0 THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT v_room, v_crowded, v_now_us, gate.tat_us, gate.circuit_open_until_us,
        gate.circuit_probe_until_us, gate.circuit_probe_owner,
        NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::BIGINT,
        NULL::BIGINT, NULL::TEXT, NULL::TEXT, NULL::BIGINT;
END
$$;

-- 0030's function, for nodes of the previous release, now the same claim: their room
-- left as the maximums, nothing reported. One body of rules in the schema, not two.
DROP FUNCTION sluice_claim_shared(TEXT, TEXT, TEXT, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT, BIGINT);
CREATE FUNCTION sluice_claim_shared(
    p_endpoint TEXT, p_tenant TEXT, p_owner TEXT, p_want BIGINT,
    p_endpoint_room BIGINT, p_tenant_room BIGINT,
    p_interval_us BIGINT, p_tolerance_us BIGINT,
    p_now_ms BIGINT, p_lease_until_ms BIGINT)
RETURNS SETOF sluice_shared_claim
LANGUAGE sql VOLATILE AS $$
    SELECT * FROM sluice_claim_shared_v2(p_endpoint, p_tenant, p_owner, p_want, p_endpoint_room, p_tenant_room,
        NULL, NULL, p_interval_us, p_tolerance_us, p_now_ms, p_lease_until_ms)
$$;
