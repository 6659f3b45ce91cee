-- Vigil Console schema, version 1. Times are integer milliseconds since the Unix epoch (portable
-- between SQLite and PostgreSQL, no time zone surprises). Statements are separated by ';' at line end.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT UNIQUE,
    metric_name TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    source TEXT,
    labels TEXT,
    ts BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    ref_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at BIGINT NOT NULL,
    lease_until BIGINT,
    leased_by TEXT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX tasks_claim ON tasks (status, run_at, id);
CREATE TABLE policies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    metric_name TEXT NOT NULL,
    op TEXT NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    for_count INTEGER NOT NULL DEFAULT 1,
    cooldown_s INTEGER NOT NULL DEFAULT 0,
    action TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE policy_state (
    policy_id BIGINT NOT NULL,
    source TEXT NOT NULL,
    streak INTEGER NOT NULL,
    last_fired_at BIGINT NOT NULL,
    PRIMARY KEY (policy_id, source)
);
CREATE TABLE actions (
    id INTEGER PRIMARY KEY,
    event_id BIGINT NOT NULL,
    policy_id BIGINT NOT NULL,
    type TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT,
    UNIQUE (event_id, policy_id)
);
CREATE TABLE action_attempts (
    action_id BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    duration_ms DOUBLE PRECISION NOT NULL,
    finished_at BIGINT NOT NULL,
    node TEXT,
    PRIMARY KEY (action_id, attempt)
);
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    ts BIGINT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE sim_runs (
    id INTEGER PRIMARY KEY,
    started_at BIGINT NOT NULL,
    stopped_at BIGINT,
    mode TEXT NOT NULL,
    target_rate DOUBLE PRECISION NOT NULL,
    configuration TEXT NOT NULL,
    metrics TEXT
);
