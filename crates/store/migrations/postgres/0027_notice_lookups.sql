-- What the notifier asks every few seconds, answered from small indexes rather than a scan of
-- every execution: the runs that failed lately, and the runs that wait.
CREATE INDEX executions_failed ON executions (finished_at) WHERE state = 'FAILED';
CREATE INDEX executions_waiting ON executions (id) WHERE state = 'WAITING';
