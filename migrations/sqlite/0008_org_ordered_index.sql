-- A partner's own list ordered by a field ("my deals, newest first") reads the organisation's part of the field's
-- index in order, instead of sorting every record of the organisation; an equality filter within one
-- organisation finds its matches here too.
CREATE INDEX plugin_index_org_text ON plugin_index (tenant_id, plugin_id, collection, field, org_id, value_text, record_id);
CREATE INDEX plugin_index_org_num ON plugin_index (tenant_id, plugin_id, collection, field, org_id, value_num, record_id);
