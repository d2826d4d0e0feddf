-- Plugins: installations per tenant, enablement and settings per program, plugin data (JSON records with
-- manifest-declared indexes), the event outbox and deliveries, schedule leases, secrets, notifications.

CREATE TABLE plugin_installs (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    plugin_id    TEXT NOT NULL,
    version      TEXT NOT NULL,
    manifest     TEXT NOT NULL,
    package_key  TEXT NOT NULL,
    wasm_hash    TEXT NOT NULL,
    installed_by TEXT,
    installed_at BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id)
);

CREATE TABLE plugin_programs (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    plugin_id   TEXT NOT NULL,
    program_id  TEXT NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
    enabled     BIGINT NOT NULL,
    settings    TEXT NOT NULL DEFAULT '{}',
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id, program_id)
);

CREATE TABLE plugin_records (
    tenant_id  TEXT NOT NULL,
    plugin_id  TEXT NOT NULL,
    collection TEXT NOT NULL,
    id         TEXT NOT NULL,
    org_id     TEXT,
    revision   BIGINT NOT NULL,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id, collection, id)
);
CREATE INDEX plugin_records_org ON plugin_records (tenant_id, plugin_id, collection, org_id, created_at);
CREATE INDEX plugin_records_created ON plugin_records (tenant_id, plugin_id, collection, created_at, id);

-- One row per (record, indexed field, value; arrays index each element): text values in value_text, numbers in value_num, so both compare
-- and sort correctly on both engines.
CREATE TABLE plugin_index (
    tenant_id  TEXT NOT NULL,
    plugin_id  TEXT NOT NULL,
    collection TEXT NOT NULL,
    field      TEXT NOT NULL,
    value_text TEXT COLLATE "C",
    value_num  DOUBLE PRECISION,
    record_id  TEXT NOT NULL,
    org_id     TEXT
);
CREATE INDEX plugin_index_record ON plugin_index (tenant_id, plugin_id, collection, record_id);
CREATE INDEX plugin_index_text ON plugin_index (tenant_id, plugin_id, collection, field, value_text, record_id);
CREATE INDEX plugin_index_num ON plugin_index (tenant_id, plugin_id, collection, field, value_num, record_id);

-- Unique indexes: the primary key refuses a second record with the same value.
CREATE TABLE plugin_unique (
    tenant_id  TEXT NOT NULL,
    plugin_id  TEXT NOT NULL,
    collection TEXT NOT NULL,
    field      TEXT NOT NULL,
    value      TEXT COLLATE "C" NOT NULL,
    record_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id, collection, field, value)
);

-- Which installed plugins subscribe to which topics (from their manifests, written at install).
CREATE TABLE plugin_subscriptions (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    plugin_id TEXT NOT NULL,
    topic     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, topic, plugin_id)
);

CREATE TABLE events (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    source     TEXT NOT NULL,
    topic      TEXT NOT NULL,
    program    TEXT,
    payload    TEXT NOT NULL,
    emitted_at BIGINT NOT NULL
);

CREATE TABLE event_deliveries (
    event_id        TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    tenant_id       TEXT NOT NULL,
    plugin_id       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'done', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    leased_until    BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (event_id, plugin_id)
);
CREATE INDEX event_deliveries_due ON event_deliveries (status, next_attempt_at);

CREATE TABLE schedule_ticks (
    tenant_id  TEXT NOT NULL,
    plugin_id  TEXT NOT NULL,
    schedule   TEXT NOT NULL,
    last_tick  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id, schedule)
);

CREATE TABLE plugin_secrets (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    plugin_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, plugin_id, name)
);

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    plugin_id  TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    link       TEXT,
    email      BIGINT NOT NULL DEFAULT 0,
    emailed_at BIGINT,
    created_at BIGINT NOT NULL,
    read_at    BIGINT
);
CREATE INDEX notifications_user ON notifications (tenant_id, user_id, created_at);
