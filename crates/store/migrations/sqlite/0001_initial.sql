-- Baton's first schema (SQLite: the same tables; ids are 16-byte BLOBs, times RFC 3339 TEXT, JSON TEXT). Migrations are numbered and never edited once released.

CREATE TABLE organizations (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    id             BLOB PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT,
    created_at     TEXT NOT NULL
) STRICT;

CREATE TABLE memberships (
    org_id      BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
) STRICT;
CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE TABLE workflows (
    id               BLOB PRIMARY KEY,
    org_id           BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    key              TEXT NOT NULL,
    name             TEXT NOT NULL,
    current_version  INTEGER NOT NULL,
    active           INTEGER NOT NULL DEFAULT 0,
    created_by       BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    deleted_at       TEXT
) STRICT;
CREATE UNIQUE INDEX workflows_key_per_org ON workflows (org_id, key) WHERE deleted_at IS NULL;
CREATE INDEX workflows_by_org ON workflows (org_id, id);

CREATE TABLE workflow_versions (
    workflow_id  BLOB NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    definition   TEXT NOT NULL,
    created_by   BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (workflow_id, version)
) STRICT;

CREATE TABLE executions (
    id                BLOB PRIMARY KEY,
    org_id            BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workflow_id       BLOB NOT NULL,
    workflow_version  INTEGER NOT NULL,
    state             TEXT NOT NULL
        CHECK (state IN ('PENDING', 'RUNNING', 'WAITING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    trigger           TEXT NOT NULL,
    run_as            BLOB REFERENCES users (id) ON DELETE SET NULL,
    input             TEXT NOT NULL,
    output            TEXT,
    error             TEXT,
    input_tokens      INTEGER NOT NULL DEFAULT 0,
    output_tokens     INTEGER NOT NULL DEFAULT 0,
    cost_micros       INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL,
    started_at        TEXT,
    finished_at       TEXT,
    FOREIGN KEY (workflow_id, workflow_version) REFERENCES workflow_versions (workflow_id, version)
) STRICT;
CREATE INDEX executions_by_org ON executions (org_id, id);
CREATE INDEX executions_by_workflow ON executions (workflow_id, id);

CREATE TABLE step_runs (
    id               BLOB NOT NULL UNIQUE,
    execution_id     BLOB NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    step_key         TEXT NOT NULL,
    state            TEXT NOT NULL,
    input            TEXT,
    output           TEXT,
    error            TEXT,
    attempts         INTEGER NOT NULL,
    idempotency_key  TEXT NOT NULL,
    input_tokens     INTEGER NOT NULL,
    output_tokens    INTEGER NOT NULL,
    cost_micros      INTEGER NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    PRIMARY KEY (execution_id, step_key)
) STRICT;

CREATE TABLE jobs (
    id            BLOB PRIMARY KEY,
    org_id        BLOB NOT NULL,
    execution_id  BLOB NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    run_at        TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    lease_owner   TEXT,
    lease_until   TEXT,
    created_at    TEXT NOT NULL
) STRICT;
CREATE INDEX jobs_by_due_time ON jobs (run_at, id);

CREATE TABLE credentials (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    service     TEXT NOT NULL,
    name        TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    ciphertext  BLOB NOT NULL,
    created_by  BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX credentials_by_org ON credentials (org_id, id);

-- No foreign keys: the log outlives the organizations and users it mentions.
CREATE TABLE audit_events (
    id          BLOB PRIMARY KEY,
    org_id      BLOB,
    actor       BLOB,
    action      TEXT NOT NULL,
    target      TEXT,
    ip          TEXT,
    user_agent  TEXT,
    details     TEXT NOT NULL,
    at          TEXT NOT NULL
) STRICT;
CREATE INDEX audit_events_by_org ON audit_events (org_id, id);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
