-- Full-text search for plugins: one row per document with a tsvector of its title (weight A), tags (B) and body (C),
-- and the access and scope tokens the host filters by inside the query (D, never ranked).
CREATE TABLE search_docs (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    plugin_id  TEXT NOT NULL,
    doc_id     TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    tsv        TSVECTOR NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id, doc_id)
);
CREATE INDEX search_docs_tsv ON search_docs USING GIN (tsv);
