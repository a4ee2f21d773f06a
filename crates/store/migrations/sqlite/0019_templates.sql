-- Each time an organization made a workflow from a template (its popularity), and each
-- person's rating of a template (one per person; a new one replaces it).
CREATE TABLE template_uses (
    template_id TEXT NOT NULL,
    org_id      BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    used_at     TEXT NOT NULL
);
CREATE INDEX template_uses_by_template ON template_uses (template_id);

CREATE TABLE template_ratings (
    template_id TEXT NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stars       INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    rated_at    TEXT NOT NULL,
    PRIMARY KEY (template_id, user_id)
);
