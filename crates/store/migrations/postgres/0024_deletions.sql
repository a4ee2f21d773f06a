-- The audit log stays append-only while it matters: a row may be deleted only once its
-- organization is deleted (with the rest of the organization's data), or once it is over a year
-- old (the audit log's retention). Rows are never changed.
CREATE OR REPLACE FUNCTION audit_events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND (
        OLD.at < now() - interval '365 days'
        OR (OLD.org_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM organizations WHERE id = OLD.org_id))
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only';
END
$$;
CREATE INDEX audit_events_by_time ON audit_events (at);
