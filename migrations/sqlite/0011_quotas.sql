-- Per-tenant quotas; NULL means the platform's default (SLUICE_TENANT_MAX_ENDPOINTS,
-- SLUICE_TENANT_MAX_API_KEYS). Checked in the transaction that inserts, with the
-- tenant's row locked on PostgreSQL, so concurrent creates cannot overshoot.
ALTER TABLE tenants ADD COLUMN max_endpoints INTEGER;
ALTER TABLE tenants ADD COLUMN max_api_keys INTEGER;
