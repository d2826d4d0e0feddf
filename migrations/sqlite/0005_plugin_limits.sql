-- Files plugins store: one row per file, written in the invocation's transaction, so a file follows it (a file
-- without a row after a grace period is an orphan the sweeper removes) and counts against the plugin's quota.
CREATE TABLE plugin_blobs (
    blob_key   TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    plugin_id  TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX plugin_blobs_owner ON plugin_blobs (tenant_id, plugin_id);

-- Quotas count a plugin's recent emails and its undelivered events.
CREATE INDEX notifications_plugin ON notifications (tenant_id, plugin_id, created_at);
CREATE INDEX events_source ON events (tenant_id, source);
