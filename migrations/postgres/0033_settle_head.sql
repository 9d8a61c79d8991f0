-- Settling a drained endpoint's queue head in one round trip. It was a transaction
-- of four statements (BEGIN, the row lock, the update, COMMIT), and three nodes
-- sharing a burst drain an endpoint far more often than one node does (each claims
-- what the others left): in the three-node benchmark the settles were about one
-- statement in seven. The rules are those the statements followed:
-- * the endpoint's row is locked, skipped if locked: a producer still open holds KEY
--   SHARE on it and its deliveries are invisible here, so the head is left early
--   rather than waited on or moved past them (an early head costs an empty claim);
-- * the update is a statement of its own after the lock, and a VOLATILE function
--   takes a fresh snapshot for each statement, so every producer that held the row
--   before has committed and is seen;
-- * losing the commit to a crash leaves the head early too, so it need not wait for
--   the WAL flush.
-- Answers whether the head was settled (false: someone held the row).
CREATE FUNCTION sluice_settle_head_v1(p_endpoint TEXT)
RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM 1 FROM endpoints e WHERE e.id = p_endpoint FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN FALSE;
    END IF;
    UPDATE endpoints SET next_due_at = (SELECT MIN(d.next_attempt_at) FROM deliveries d
        WHERE d.endpoint_id = endpoints.id AND d.state = 'pending')
        WHERE id = p_endpoint;
    RETURN TRUE;
END
$$;
