-- A saved version's note: what the person who saved it said changed (optional).
ALTER TABLE workflow_versions ADD COLUMN note TEXT;
