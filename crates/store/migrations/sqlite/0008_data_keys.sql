-- Each organization's data key, wrapped by the operator's master key (see vault.rs). Secrets
-- are sealed under the data key; only the wrapped form is ever stored.
CREATE TABLE data_keys (
    org_id         BLOB PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    key_id         TEXT NOT NULL,
    master_key_id  TEXT NOT NULL,
    wrapped        BLOB NOT NULL,
    created_at     TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX credentials_by_name ON credentials (org_id, service, name);
