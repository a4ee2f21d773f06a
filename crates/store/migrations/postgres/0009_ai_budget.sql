-- An organization's monthly AI budget, in micro-dollars; none when unset.
ALTER TABLE organizations ADD COLUMN ai_budget_micros BIGINT;
CREATE INDEX step_runs_by_start ON step_runs (started_at) WHERE cost_micros > 0;
