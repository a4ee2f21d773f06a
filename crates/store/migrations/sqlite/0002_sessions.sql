-- Sign-in sessions: one row per refresh token. A refresh rotates the token (the old row gets
-- used_at, a new row joins the same family); a used token presented again revokes the family.

CREATE TABLE sessions (
    id          BLOB PRIMARY KEY,
    family_id   BLOB NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id      BLOB NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    revoked_at  TEXT
) STRICT;
CREATE INDEX sessions_by_family ON sessions (family_id);
CREATE INDEX sessions_by_user ON sessions (user_id);
