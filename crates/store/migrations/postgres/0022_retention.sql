-- How many days an organization keeps its finished executions (with their steps); 30 when
-- unset. The scheduler deletes older ones in batches.
ALTER TABLE organizations ADD COLUMN retention_days INTEGER;
CREATE INDEX executions_by_finish ON executions (finished_at) WHERE state IN ('COMPLETED', 'FAILED', 'CANCELLED');
