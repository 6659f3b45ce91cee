-- Version 2: the effect ledger of actions and persisted queue settings.
-- deliveries: how often a remediator was handed the action's idempotency key (> 1 after a rescue or
-- a retry); executions: how often the effect was applied (0 or 1: the ledger refuses a second one).
ALTER TABLE actions ADD COLUMN deliveries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE actions ADD COLUMN executions INTEGER NOT NULL DEFAULT 0;
ALTER TABLE actions ADD COLUMN executed_at BIGINT;
ALTER TABLE actions ADD COLUMN executed_by TEXT;
-- name/value pairs the queue keeps across restarts (today: paused = 0|1).
CREATE TABLE queue_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
