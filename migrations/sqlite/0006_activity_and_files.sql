-- The days each user was active (UTC), so the host reports a user's activity to plugins once a day.
CREATE TABLE user_activity (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL,
    day       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id, day)
);

-- What plugins' files are: their content's SHA-256 and the type judged from it, and the name they came with.
ALTER TABLE plugin_blobs ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE plugin_blobs ADD COLUMN content_type TEXT NOT NULL DEFAULT 'application/octet-stream';
ALTER TABLE plugin_blobs ADD COLUMN filename TEXT NOT NULL DEFAULT '';
