-- Poll triggers take turns across servers and keep how their last look ended: the server that
-- moves next_look_at on looks, the others wait; last_error says why the last look failed.
ALTER TABLE trigger_cursors ADD COLUMN looked_at TEXT;
ALTER TABLE trigger_cursors ADD COLUMN next_look_at TEXT;
ALTER TABLE trigger_cursors ADD COLUMN last_error TEXT;
