-- Webhook triggers: one unguessable URL token per workflow, an optional HMAC secret, and the
-- delivery ids already seen, so that a repeated delivery returns its first execution.

CREATE TABLE hooks (
    workflow_id  BLOB PRIMARY KEY REFERENCES workflows (id) ON DELETE CASCADE,
    org_id       BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    token        TEXT NOT NULL UNIQUE,
    secret       TEXT,
    created_at   TEXT NOT NULL
) STRICT;

CREATE TABLE deliveries (
    workflow_id   BLOB NOT NULL,
    delivery_id   TEXT NOT NULL,
    execution_id  BLOB NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (workflow_id, delivery_id)
) STRICT;
