-- Each endpoint's queue head: never later than the earliest next_attempt_at of its
-- pending deliveries (NULL when it has none; earlier is allowed and harmless: the
-- dispatcher finds nothing to claim and settles it). The dispatcher finds due work
-- by this column alone, so a scan costs what the endpoints with due work cost, not
-- what the platform's size costs. Every write that queues work lowers the head and
-- bumps due_version; the dispatcher raises a head only if due_version is still the
-- one it read, so it can never hide work queued meanwhile.
ALTER TABLE endpoints ADD COLUMN next_due_at BIGINT;
ALTER TABLE endpoints ADD COLUMN due_version BIGINT NOT NULL DEFAULT 0;
UPDATE endpoints SET next_due_at = (SELECT MIN(d.next_attempt_at) FROM deliveries d
    WHERE d.endpoint_id = endpoints.id AND d.state = 'pending');
CREATE INDEX endpoints_due ON endpoints (next_due_at) WHERE enabled = TRUE AND deleted_at IS NULL;
