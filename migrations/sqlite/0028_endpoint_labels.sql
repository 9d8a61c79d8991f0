-- Endpoint labels: a small JSON object of key/value strings (`{"kind":"erp"}`), for
-- grouping endpoints; the tenant overview reports delivery success by label.
ALTER TABLE endpoints ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
