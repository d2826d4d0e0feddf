-- SQLite's full-text table gains a prefix index in this version; PostgreSQL's GIN index answers prefix queries
-- (`integr:*`) as it is, so there is nothing to change here.
SELECT 1;
