-- Whether the job's last claim took it from a worker whose lease had run out (a worker that
-- died or stalled), for the lease-takeover count.
ALTER TABLE jobs ADD COLUMN taken_over BOOLEAN NOT NULL DEFAULT false;
