-- What a caller's delivery key was first sent with (a hash of the request), so the same key
-- with another request is refused instead of silently answered with the first execution.
-- Keys a caller chose (those with a fingerprint) are forgotten after the retention period.
ALTER TABLE deliveries ADD COLUMN fingerprint TEXT;
CREATE INDEX deliveries_by_age ON deliveries (created_at) WHERE fingerprint IS NOT NULL;
