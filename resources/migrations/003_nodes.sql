-- Version 3: the nodes sharing a PostgreSQL database, one row per --node-id while its process lives.
-- instance: a random id of the process that holds the node id; seen_at: its heartbeat (epoch ms,
-- once a second). A second live process with the same --node-id is refused at start-up, since it
-- would take the first one's leases for its own (SQLite files have one process by their lock file).
CREATE TABLE nodes (
    node_id TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);
