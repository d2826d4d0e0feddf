-- Channel figures per day, added to as activity happens (host activity and what plugins report through
-- `analytics.count`), so dashboards read a few rows per day and never the raw history. `day` counts days since
-- 1970-01-01 in the tenant's time zone. Each figure is kept per organisation and once more for the whole tenant
-- (`org_id` = ''), which is what the channel dashboard reads. `unit` is the currency of an amount in minor units,
-- '' for a count.
CREATE TABLE daily_metrics (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    metric    TEXT NOT NULL,
    day       INTEGER NOT NULL,
    org_id    TEXT NOT NULL,
    unit      TEXT NOT NULL,
    value     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, metric, day, org_id, unit)
);
CREATE INDEX daily_metrics_org ON daily_metrics (tenant_id, org_id, day);

-- Who counted towards a distinct figure in a period (a user or an organisation active in a month), so each is
-- counted once per period.
CREATE TABLE metric_members (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    metric    TEXT NOT NULL,
    period    INTEGER NOT NULL,
    member    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, metric, period, member)
);

-- A partner organisation's recent activity across the host and its plugins, for the partner's 360 page and the
-- weekly digest.
CREATE TABLE org_timeline (
    id        TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    org_id    TEXT NOT NULL,
    at        INTEGER NOT NULL,
    source    TEXT NOT NULL,
    text      TEXT NOT NULL,
    link      TEXT
);
CREATE INDEX org_timeline_org ON org_timeline (tenant_id, org_id, at);

-- The weekly digest: who opted out, and which week each person was sent (once per week per person).
ALTER TABLE users ADD COLUMN digest_opt_out INTEGER NOT NULL DEFAULT 0;
CREATE TABLE digest_sends (
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL,
    week      INTEGER NOT NULL,
    sent_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id, week)
);
