-- Portico host schema: tenants, organisations, programs and tiers, accounts and auth, mail, audit.
-- Timestamps are UTC milliseconds since the Unix epoch. Every tenant-owned table carries tenant_id.

CREATE TABLE host_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE tenants (
    id            TEXT PRIMARY KEY,
    slug          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    domain        TEXT UNIQUE,
    theme         TEXT NOT NULL DEFAULT 'default',
    portal_name   TEXT NOT NULL,
    primary_color TEXT NOT NULL DEFAULT '#1f5fbf',
    accent_color  TEXT NOT NULL DEFAULT '#0f9d76',
    logo_key      TEXT,
    favicon_key   TEXT,
    custom_css    TEXT NOT NULL DEFAULT '',
    timezone      TEXT NOT NULL DEFAULT 'UTC',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE tenant_templates (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE orgs (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('vendor', 'partner')),
    name          TEXT NOT NULL,
    website       TEXT NOT NULL DEFAULT '',
    address       TEXT NOT NULL DEFAULT '',
    phone         TEXT NOT NULL DEFAULT '',
    contact_email TEXT NOT NULL DEFAULT '',
    logo_key      TEXT,
    created_at    BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX orgs_tenant_kind ON orgs (tenant_id, kind, name);

CREATE TABLE programs (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    UNIQUE (tenant_id, key)
);

CREATE TABLE tiers (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    program_id TEXT NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    name       TEXT NOT NULL,
    rank       BIGINT NOT NULL,
    UNIQUE (program_id, key),
    UNIQUE (program_id, rank)
);

CREATE TABLE enrolments (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    program_id  TEXT NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
    tier_id     TEXT NOT NULL REFERENCES tiers(id),
    enrolled_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, program_id)
);
CREATE INDEX enrolments_program ON enrolments (tenant_id, program_id);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('vendor_admin', 'channel_manager', 'partner_admin', 'partner_user')),
    status        TEXT NOT NULL CHECK (status IN ('invited', 'active', 'deactivated')),
    password_hash TEXT,
    timezone      TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT,
    UNIQUE (tenant_id, email)
);
CREATE INDEX users_org ON users (tenant_id, org_id, email);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (tenant_id, user_id);

CREATE TABLE auth_tokens (
    token_hash TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('invite', 'reset')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE TABLE login_failures (
    tenant_id         TEXT NOT NULL,
    key               TEXT NOT NULL,
    failures          BIGINT NOT NULL,
    window_started_at BIGINT NOT NULL,
    locked_until      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, key)
);

CREATE TABLE mail (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    to_addr    TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('kept', 'sent', 'failed')),
    error      TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX mail_tenant ON mail (tenant_id, created_at);

CREATE TABLE audit_log (
    id        TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    actor_id  TEXT,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '',
    at        BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, at);
