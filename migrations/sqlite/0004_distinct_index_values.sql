-- An array field indexes each distinct element once: an ordered query read from the index lists a record at its
-- first row in the order, so a repeated element would list it twice. Rows written before this rule are merged.
DELETE FROM plugin_index WHERE rowid NOT IN (
    SELECT MIN(rowid) FROM plugin_index GROUP BY tenant_id, plugin_id, collection, record_id, field, value_text, value_num
);
