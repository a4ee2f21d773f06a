-- What people tell the organization's Owners from the app: how likely they are to recommend it
-- (0 to 10), a problem (with the page and the last error they saw), or an idea.
CREATE TABLE feedback (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id     BLOB REFERENCES users (id) ON DELETE SET NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('nps', 'bug', 'idea')),
    score       INTEGER CHECK (score BETWEEN 0 AND 10),
    comment     TEXT NOT NULL,
    page        TEXT,
    last_error  TEXT,
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX feedback_by_org ON feedback (org_id, created_at);
