-- What a receiver asked for with Retry-After, kept on the attempt: it lengthens the
-- schedule's wait but never shortens it, and people reading the log should see why
-- the next attempt came when it did.
ALTER TABLE attempts ADD COLUMN retry_after_seconds BIGINT;
