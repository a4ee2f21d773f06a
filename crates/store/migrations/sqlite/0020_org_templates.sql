-- Templates an organization made from its own workflows, seen only by its members.
CREATE TABLE org_templates (
    org_id      BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    template_id TEXT NOT NULL,
    document    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, template_id)
);
