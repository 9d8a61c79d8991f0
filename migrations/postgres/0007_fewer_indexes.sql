-- Every index is paid for on each publish. `make bench` after 0005 and 0006 showed
-- their three indexes costing a third of SQLite's publish rate; ids are time-ordered
-- (ULIDs), so the (tenant_id, id) and primary-key indexes serve the same time-window
-- scans when queries bound the id by time.
DROP INDEX IF EXISTS deliveries_tenant_created;
DROP INDEX IF EXISTS messages_created;
DROP INDEX IF EXISTS lifecycle_events_created;
