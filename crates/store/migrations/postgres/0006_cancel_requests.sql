-- A person asked to cancel a running execution: its worker sees this while it keeps the lease
-- and stops the run at its next safe point.
ALTER TABLE jobs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
