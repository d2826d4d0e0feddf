-- A record's index rows are looked up by record and field (the sort key of an ordered query, the second and later
-- filters of a query): with the field in the index, such a lookup is exact, and the planner prefers it even when
-- its statistics for a young collection are stale (without it, PostgreSQL scanned the whole field per record).
DROP INDEX plugin_index_record;
CREATE INDEX plugin_index_record ON plugin_index (tenant_id, plugin_id, collection, record_id, field);
