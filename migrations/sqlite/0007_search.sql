-- Full-text search for plugins: one FTS5 row per document (title, tags, body, and the access and scope tokens the
-- host filters by inside the MATCH), found from the plugin's id through search_docs.
CREATE VIRTUAL TABLE search_fts USING fts5(title, tags, body, labels, tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE search_docs (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    plugin_id  TEXT NOT NULL,
    doc_id     TEXT NOT NULL,
    fts_rowid  INTEGER NOT NULL,
    title      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id, doc_id)
);
CREATE INDEX search_docs_rowid ON search_docs (fts_rowid);
