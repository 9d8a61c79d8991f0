-- Recover filters and cancel: an operation remembers the event type and error class
-- it was limited to, and when it was cancelled (its deliveries still waiting then
-- went back to failed).
ALTER TABLE operations ADD COLUMN event_type TEXT;
ALTER TABLE operations ADD COLUMN error_class TEXT;
ALTER TABLE operations ADD COLUMN cancelled_at BIGINT;
