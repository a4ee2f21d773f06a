-- Baton's first schema (PostgreSQL). Migrations are numbered and never edited once released.

CREATE TABLE organizations (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id             UUID PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT,
    created_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE memberships (
    org_id      UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE workflows (
    id               UUID PRIMARY KEY,
    org_id           UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    key              TEXT NOT NULL,
    name             TEXT NOT NULL,
    current_version  INTEGER NOT NULL,
    active           BOOLEAN NOT NULL DEFAULT FALSE,
    created_by       UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    deleted_at       TIMESTAMPTZ
);
CREATE UNIQUE INDEX workflows_key_per_org ON workflows (org_id, key) WHERE deleted_at IS NULL;
CREATE INDEX workflows_by_org ON workflows (org_id, id);

CREATE TABLE workflow_versions (
    workflow_id  UUID NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    definition   JSONB NOT NULL,
    created_by   UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

CREATE TABLE executions (
    id                UUID PRIMARY KEY,
    org_id            UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workflow_id       UUID NOT NULL,
    workflow_version  INTEGER NOT NULL,
    state             TEXT NOT NULL
        CHECK (state IN ('PENDING', 'RUNNING', 'WAITING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    trigger           TEXT NOT NULL,
    run_as            UUID REFERENCES users (id) ON DELETE SET NULL,
    input             JSONB NOT NULL,
    output            JSONB,
    error             JSONB,
    input_tokens      BIGINT NOT NULL DEFAULT 0,
    output_tokens     BIGINT NOT NULL DEFAULT 0,
    cost_micros       BIGINT NOT NULL DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL,
    started_at        TIMESTAMPTZ,
    finished_at       TIMESTAMPTZ,
    FOREIGN KEY (workflow_id, workflow_version) REFERENCES workflow_versions (workflow_id, version)
);
CREATE INDEX executions_by_org ON executions (org_id, id);
CREATE INDEX executions_by_workflow ON executions (workflow_id, id);

CREATE TABLE step_runs (
    id               UUID NOT NULL UNIQUE,
    execution_id     UUID NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_key         TEXT NOT NULL,
    state            TEXT NOT NULL,
    input            JSONB,
    output           JSONB,
    error            JSONB,
    attempts         INTEGER NOT NULL,
    idempotency_key  TEXT NOT NULL,
    input_tokens     BIGINT NOT NULL,
    output_tokens    BIGINT NOT NULL,
    cost_micros      BIGINT NOT NULL,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ,
    PRIMARY KEY (execution_id, step_key)
);

CREATE TABLE jobs (
    id            UUID PRIMARY KEY,
    org_id        UUID NOT NULL,
    execution_id  UUID NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    payload       JSONB NOT NULL,
    run_at        TIMESTAMPTZ NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_owner   TEXT,
    lease_until   TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX jobs_by_due_time ON jobs (run_at, id);

CREATE TABLE credentials (
    id          UUID PRIMARY KEY,
    org_id      UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    service     TEXT NOT NULL,
    name        TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    ciphertext  BYTEA NOT NULL,
    created_by  UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX credentials_by_org ON credentials (org_id, id);

-- No foreign keys: the log outlives the organizations and users it mentions.
CREATE TABLE audit_events (
    id          UUID PRIMARY KEY,
    org_id      UUID,
    actor       UUID,
    action      TEXT NOT NULL,
    target      TEXT,
    ip          TEXT,
    user_agent  TEXT,
    details     JSONB NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_events_by_org ON audit_events (org_id, id);

CREATE FUNCTION audit_events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_are_append_only();
