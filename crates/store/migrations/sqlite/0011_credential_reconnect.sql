-- Why a credential has to be connected again (its OAuth grant was revoked or expired); NULL
-- while it works. Replacing the secret clears it.
ALTER TABLE credentials ADD COLUMN reconnect_reason TEXT;
