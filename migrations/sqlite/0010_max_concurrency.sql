-- An endpoint's own cap on requests in flight (1-64); NULL means the node's default.
-- Within it the dispatcher adapts (see engine/src/delivery/concurrency.rs).
ALTER TABLE endpoints ADD COLUMN max_concurrency INTEGER;
