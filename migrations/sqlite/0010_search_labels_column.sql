-- PostgreSQL moves a document's access labels out of its tsvector into a column of their own in this version.
-- SQLite's FTS5 table keeps them in its `labels` column, where a MATCH reads them from the index: nothing to change.
SELECT 1;
