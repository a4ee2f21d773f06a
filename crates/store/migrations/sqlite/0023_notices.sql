-- How soon each person wants to hear that a workflow of theirs failed or waits for an approval.
ALTER TABLE users ADD COLUMN notify TEXT NOT NULL DEFAULT 'immediately'
    CHECK (notify IN ('immediately', 'hourly', 'never'));

-- What people are told about runs. A row with an empty recipient is the claim on one event (a
-- run failed, a step waits for approval): whichever server's notifier inserts it first tells
-- everyone, the others skip it. The other rows are one message each, sent once due.
CREATE TABLE notices (
    id            BLOB PRIMARY KEY,
    org_id        BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workflow_id   BLOB NOT NULL,
    execution_id  BLOB NOT NULL,
    event         TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    detail        TEXT NOT NULL,
    due_at        TEXT NOT NULL,
    sent_at       TEXT,
    created_at    TEXT NOT NULL,
    UNIQUE (execution_id, event, recipient)
) STRICT;
CREATE INDEX notices_due ON notices (due_at) WHERE sent_at IS NULL;
CREATE INDEX notices_sent ON notices (workflow_id, recipient, sent_at);
