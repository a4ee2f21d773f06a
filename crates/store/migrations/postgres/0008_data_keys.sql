-- Each organization's data key, wrapped by the operator's master key (see vault.rs). Secrets
-- are sealed under the data key; only the wrapped form is ever stored.
CREATE TABLE data_keys (
    org_id         UUID PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    key_id         TEXT NOT NULL,
    master_key_id  TEXT NOT NULL,
    wrapped        BYTEA NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX credentials_by_name ON credentials (org_id, service, name);
