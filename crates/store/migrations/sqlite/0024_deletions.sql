-- The audit log stays append-only while it matters: a row may be deleted only once its
-- organization is deleted (with the rest of the organization's data), or once it is over a year
-- old (the audit log's retention). Rows are never changed.
DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN (OLD.org_id IS NULL OR EXISTS (SELECT 1 FROM organizations WHERE id = OLD.org_id))
    AND julianday(OLD.at) > julianday('now', '-365 days')
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE INDEX audit_events_by_time ON audit_events (at);
