-- Email addresses are proven by a mailed link before an account is linked to a sign-in
-- provider. People who came through a provider already proved theirs.
ALTER TABLE users ADD COLUMN email_verified_at TEXT;
UPDATE users SET email_verified_at = created_at WHERE id IN (SELECT user_id FROM identities);

CREATE TABLE email_verifications (
    token_hash  BLOB PRIMARY KEY,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
) STRICT;
CREATE INDEX email_verifications_by_user ON email_verifications (user_id);

-- An invitation has two links: the one mailed to the invitee (which proves the mailbox and may
-- make an account with a password) and the one shown to the inviter (which needs the invitee
-- to sign in as the invited email).
ALTER TABLE invites ADD COLUMN mail_token_hash BLOB;
CREATE UNIQUE INDEX invites_by_mail_token ON invites (mail_token_hash);
