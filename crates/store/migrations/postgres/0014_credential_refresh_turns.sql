-- Until when one process holds the turn to refresh a credential's token. Providers that rotate
-- refresh tokens take each once, so processes refreshing at once would lose the grant.
ALTER TABLE credentials ADD COLUMN refresh_until TIMESTAMPTZ;
