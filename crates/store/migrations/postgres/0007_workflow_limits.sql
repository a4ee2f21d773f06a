-- A workflow's `concurrency`: at most that many of its jobs leased at once. Each job carries
-- its workflow and the limit its version set when it was queued.
ALTER TABLE jobs ADD COLUMN workflow_id UUID;
ALTER TABLE jobs ADD COLUMN workflow_limit BIGINT;
UPDATE jobs SET workflow_id = executions.workflow_id FROM executions WHERE executions.id = jobs.execution_id;
CREATE INDEX jobs_limited_by_workflow ON jobs (workflow_id, lease_until) WHERE workflow_limit IS NOT NULL;
