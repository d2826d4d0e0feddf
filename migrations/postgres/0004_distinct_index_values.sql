-- An array field indexes each distinct element once: an ordered query read from the index lists a record at its
-- first row in the order, so a repeated element would list it twice. Rows written before this rule are merged.
DELETE FROM plugin_index a USING plugin_index b
WHERE a.ctid > b.ctid
  AND a.tenant_id = b.tenant_id AND a.plugin_id = b.plugin_id AND a.collection = b.collection
  AND a.record_id = b.record_id AND a.field = b.field
  AND a.value_text IS NOT DISTINCT FROM b.value_text AND a.value_num IS NOT DISTINCT FROM b.value_num;
