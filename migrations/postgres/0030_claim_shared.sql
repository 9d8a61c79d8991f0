-- A claim under the limits every node shares, in one round trip (see ARCHITECTURE.md,
-- "Limits across nodes"). Each node's claims for a tenant queue on one lock, and the
-- lock is held until the commit; as five statements sent one by one, it was held
-- across five round trips, each a wait for the claiming node's scheduler on a busy
-- machine, so every node's claims queued behind that (and a refused claim cost five). Here the lock is held only for
-- the function's own work and the commit (asynchronous: a claim is only a lease, and
-- one lost to a crash falls due again).
--
-- The rules are those of the Rust it replaces (`Pace::grant`, `SharedCircuit::at`),
-- which the node still uses to read the answer: the function returns the pacing row as
-- it found it. Each statement inside a VOLATILE function takes a fresh snapshot, so
-- the counts, read after the lock, see every claim committed before it.
--
-- p_endpoint_room and p_tenant_room: the endpoint's and the tenant's maximum less
-- this node's own requests in flight. p_interval_us and p_tolerance_us: the rate
-- limit's (NULL without one). Returns the claimed deliveries with their messages, each
-- row carrying the grant; a row with a NULL id when nothing was claimed.
CREATE FUNCTION sluice_claim_shared(
    p_endpoint TEXT, p_tenant TEXT, p_owner TEXT, p_want BIGINT,
    p_endpoint_room BIGINT, p_tenant_room BIGINT,
    p_interval_us BIGINT, p_tolerance_us BIGINT,
    p_now_ms BIGINT, p_lease_until_ms BIGINT)
RETURNS TABLE (
    granted BIGINT, crowded BOOLEAN, now_us BIGINT, tat_us BIGINT,
    circuit_open_until_us BIGINT, circuit_probe_until_us BIGINT, circuit_probe_owner TEXT,
    id TEXT, message_id TEXT, endpoint_id TEXT, tenant_id TEXT, event_type TEXT,
    attempts BIGINT, retry_base BIGINT, lease_token BIGINT, next_trigger TEXT,
    payload TEXT, message_created_at BIGINT)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    gate RECORD;
    v_now_us BIGINT;
    v_room BIGINT;
    v_crowded BOOLEAN;
    v_probe BOOLEAN := FALSE;
    v_claimed BIGINT;
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

    -- What the other nodes have in flight: their unexpired leases.
    SELECT GREATEST(0, LEAST(p_want,
               p_endpoint_room - COUNT(*) FILTER (WHERE d.endpoint_id = p_endpoint),
               p_tenant_room - COUNT(*)))
        INTO v_room
        FROM deliveries d WHERE d.tenant_id = p_tenant AND d.state = 'pending'
        AND d.lease_owner IS NOT NULL AND d.lease_owner <> p_owner AND d.next_attempt_at > p_now_ms;
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
        IF v_claimed > 0 THEN
            RETURN;
        END IF;
    END IF;
    RETURN QUERY SELECT v_room, v_crowded, v_now_us, gate.tat_us, gate.circuit_open_until_us,
        gate.circuit_probe_until_us, gate.circuit_probe_owner,
        NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::TEXT, NULL::BIGINT, NULL::BIGINT,
        NULL::BIGINT, NULL::TEXT, NULL::TEXT, NULL::BIGINT;
END
$$;
