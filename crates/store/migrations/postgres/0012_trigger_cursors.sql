-- Where a poll trigger's last look at its service ended (Gmail: the mailbox's history id), as
-- JSON text, so that a restart neither misses nor repeats what is new.
CREATE TABLE trigger_cursors (
    workflow_id  UUID PRIMARY KEY REFERENCES workflows (id) ON DELETE CASCADE,
    cursor       TEXT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
