-- Grants: a node busy at an endpoint reserves a share of its room, and of its
-- tenant's, for a moment, and claims within it the plain way (see ARCHITECTURE.md,
-- "Limits across nodes"). Counting every node's requests in flight under the
-- tenant's row lock on every claim was the three-node benchmark's largest cost in
-- PostgreSQL: thousands of calls, each waiting for the lock, counting leases and
-- writing reports, where a grant asks about once a second.
--
-- A node holding an unexpired grant for a scope (an endpoint or a tenant) keeps its
-- requests in flight there within the grant, and starts none on it once it expires
-- (less a margin), so the others count it as its grant, whatever its leases; an
-- expired or empty grant counts as before (0031's rule). Grants are timed by the
-- database's clock alone, here and in the claim that fills them, so the nodes' clocks
-- do not enter into it. A grant is
-- never less than what the node has in flight with this claim's rows, nor more than
-- what the others leave: the grants and requests of all nodes stay within the
-- maximums. Every call writes the caller's grant, so one that asks for none (a node
-- of the previous release, a rate-limited endpoint, an open circuit) ends its grant.
ALTER TABLE claim_reports
    ADD COLUMN granted BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN granted_until_ms BIGINT NOT NULL DEFAULT 0;

-- `sluice_shared_claim` and the grants this call wrote: an endpoint grant only for
-- an endpoint without a rate limit whose circuit is closed, both 0 when none.
CREATE TYPE sluice_granted_claim AS (
    granted BIGINT, crowded BOOLEAN, now_us BIGINT, tat_us BIGINT,
    circuit_open_until_us BIGINT, circuit_probe_until_us BIGINT, circuit_probe_owner TEXT,
    id TEXT, message_id TEXT, endpoint_id TEXT, tenant_id TEXT, event_type TEXT,
    attempts BIGINT, retry_base BIGINT, lease_token BIGINT, next_trigger TEXT,
    payload TEXT, message_created_at BIGINT,
    endpoint_grant BIGINT, tenant_grant BIGINT);

-- As `sluice_claim_shared_v2` (0031), and: other nodes' unexpired grants count as
-- the grants; p_endpoint_share and p_tenant_share are the most this node wants to
-- hold (its fair share of each maximum), p_grant_until_ms when its grants end on its
-- clock (NULL: no grant wanted; they last as long from the database's clock).
CREATE FUNCTION sluice_claim_shared_v3(
    p_endpoint TEXT, p_tenant TEXT, p_owner TEXT, p_want BIGINT,
    p_endpoint_max BIGINT, p_tenant_max BIGINT, p_endpoint_here BIGINT, p_tenant_here BIGINT,
    p_interval_us BIGINT, p_tolerance_us BIGINT,
    p_now_ms BIGINT, p_lease_until_ms BIGINT,
    p_endpoint_share BIGINT, p_tenant_share BIGINT, p_grant_until_ms BIGINT)
RETURNS SETOF sluice_granted_claim
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
    v_endpoint_left BIGINT;
    v_tenant_left BIGINT;
    v_endpoint_grant BIGINT := 0;
    v_tenant_grant BIGINT := 0;
    v_grant_until_ms BIGINT;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true), set_config('lock_timeout', '1s', true);
    -- The tenant's row, as the statements it replaces locked it, so a node of an
    -- earlier release claiming beside this one still queues on the same lock. NO KEY
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
    v_grant_until_ms := v_now_us / 1000 + (p_grant_until_ms - p_now_ms);

    -- What the other nodes have in flight: per node, its unexpired grant, or else the
    -- least of its unexpired leases and its report plus the leases taken since.
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
        GROUP BY d.lease_owner),
    granted AS (
        SELECT r.node_id,
            MAX(r.granted) FILTER (WHERE r.scope = p_endpoint) AS endpoint_grant,
            MAX(r.granted) FILTER (WHERE r.scope = p_tenant) AS tenant_grant
        FROM claim_reports r
        WHERE r.scope IN (p_endpoint, p_tenant) AND r.node_id <> p_owner
        AND r.granted > 0 AND r.granted_until_ms > v_now_us / 1000
        GROUP BY r.node_id),
    counted AS (
        SELECT COALESCE(g.endpoint_grant,
                LEAST(l.at_endpoint, COALESCE(l.endpoint_report + l.at_endpoint_since, l.at_endpoint)), 0)
                AS at_endpoint,
            COALESCE(g.tenant_grant,
                LEAST(l.in_tenant, COALESCE(l.tenant_report + l.in_tenant_since, l.in_tenant)), 0)
                AS in_tenant
        FROM leased l FULL JOIN granted g ON g.node_id = l.node_id)
    SELECT COALESCE(SUM(at_endpoint), 0), COALESCE(SUM(in_tenant), 0)
        INTO v_others_endpoint, v_others_tenant
        FROM counted;
    v_endpoint_left := GREATEST(0, p_endpoint_max - COALESCE(p_endpoint_here, 0) - v_others_endpoint);
    v_tenant_left := GREATEST(0, p_tenant_max - COALESCE(p_tenant_here, 0) - v_others_tenant);
    v_room := LEAST(p_want, v_endpoint_left, v_tenant_left);
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
            c.retry_base, c.lease_token, c.next_trigger, m.payload, m.created_at,
            NULL::BIGINT, NULL::BIGINT
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

    -- The grants: this node's share, but at least what it now has in flight and at
    -- most what the others leave it. None on an endpoint whose every claim must see
    -- the rate schedule or the circuit.
    IF p_grant_until_ms IS NOT NULL AND p_endpoint_here IS NOT NULL THEN
        v_tenant_grant := GREATEST(p_tenant_here + v_claimed,
            LEAST(p_tenant_share, p_tenant_here + v_tenant_left));
        IF p_interval_us IS NULL AND gate.circuit_open_until_us IS NULL THEN
            v_endpoint_grant := GREATEST(p_endpoint_here + v_claimed,
                LEAST(p_endpoint_share, p_endpoint_here + v_endpoint_left));
        END IF;
    END IF;
    -- What this node had in flight before this claim, the lease end it handed out,
    -- and its grants, for the other nodes' next claims.
    IF p_endpoint_here IS NOT NULL THEN
        INSERT INTO claim_reports (scope, node_id, in_flight, lease_until_ms, granted, granted_until_ms)
            VALUES (p_endpoint, p_owner, p_endpoint_here, p_lease_until_ms, v_endpoint_grant,
                    CASE WHEN v_endpoint_grant > 0 THEN v_grant_until_ms ELSE 0 END),
                (p_tenant, p_owner, p_tenant_here, p_lease_until_ms, v_tenant_grant,
                    CASE WHEN v_tenant_grant > 0 THEN v_grant_until_ms ELSE 0 END)
            ON CONFLICT (scope, node_id) DO UPDATE
            SET in_flight = EXCLUDED.in_flight, lease_until_ms = EXCLUDED.lease_until_ms,
                granted = EXCLUDED.granted, granted_until_ms = EXCLUDED.granted_until_ms;
    END IF;
    -- One more row, with no delivery, carries the grants (and is the only row when
    -- nothing was claimed).
    RETURN QUERY SELECT v_room, v_crowded, v_now_us, gate.tat_us, gate.circuit_open_until_us,
        gate.circuit_probe_until_us, gate.circuit_probe_owner,
        NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::BIGINT,
        NULL::BIGINT, NULL::TEXT, NULL::TEXT, NULL::BIGINT, v_endpoint_grant, v_tenant_grant;
END
$$;

-- 0031's function, for nodes of the previous release, now this one asking for no
-- grant: one body of rules in the schema (0030's wrapper calls this one). Its answer
-- gains the grants' row when something was claimed; that release skips rows with no
-- delivery.
CREATE OR REPLACE FUNCTION sluice_claim_shared_v2(
    p_endpoint TEXT, p_tenant TEXT, p_owner TEXT, p_want BIGINT,
    p_endpoint_max BIGINT, p_tenant_max BIGINT, p_endpoint_here BIGINT, p_tenant_here BIGINT,
    p_interval_us BIGINT, p_tolerance_us BIGINT,
    p_now_ms BIGINT, p_lease_until_ms BIGINT)
RETURNS SETOF sluice_shared_claim
LANGUAGE sql VOLATILE AS $$
    SELECT granted, crowded, now_us, tat_us, circuit_open_until_us, circuit_probe_until_us,
        circuit_probe_owner, id, message_id, endpoint_id, tenant_id, event_type, attempts,
        retry_base, lease_token, next_trigger, payload, message_created_at
    FROM sluice_claim_shared_v3(p_endpoint, p_tenant, p_owner, p_want, p_endpoint_max, p_tenant_max,
        p_endpoint_here, p_tenant_here, p_interval_us, p_tolerance_us, p_now_ms, p_lease_until_ms,
        NULL, NULL, NULL)
$$;
