-- Webhook triggers: one unguessable URL token per workflow, an optional HMAC secret, and the
-- delivery ids already seen, so that a repeated delivery returns its first execution.

CREATE TABLE hooks (
    workflow_id  UUID PRIMARY KEY REFERENCES workflows (id) ON DELETE CASCADE,
    org_id       UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    token        TEXT NOT NULL UNIQUE,
    secret       TEXT,
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE deliveries (
    workflow_id   UUID NOT NULL,
    delivery_id   TEXT NOT NULL,
    -- Checked at commit: the delivery row is written first, to claim the id.
    execution_id  UUID NOT NULL REFERENCES executions (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workflow_id, delivery_id)
);

-- Workers sleep on LISTEN baton_jobs: a job that becomes claimable wakes them at once.
CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('baton_jobs', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER jobs_notify_insert AFTER INSERT ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_notify();
CREATE TRIGGER jobs_notify_release AFTER UPDATE OF run_at ON jobs
    FOR EACH ROW WHEN (NEW.lease_owner IS NULL) EXECUTE FUNCTION jobs_notify();
