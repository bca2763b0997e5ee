-- plait schema, version 1, PostgreSQL. The namespace is part of every key.
-- The same tables, columns and indexes as migrations/sqlite/0001_initial.sql (a test checks);
-- only types and storage settings differ. JSON columns stay TEXT: the server never queries
-- inside them, and TEXT skips jsonb's parse on every write.

CREATE TABLE namespaces (
    name TEXT PRIMARY KEY,
    retention_seconds REAL NOT NULL
);

CREATE TABLE executions (
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    task_queue TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time DOUBLE PRECISION NOT NULL,
    close_time DOUBLE PRECISION,
    next_event_id BIGINT NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    search_attributes TEXT,
    memo TEXT,
    PRIMARY KEY (namespace, workflow_id, run_id)
) WITH (fillfactor = 80);  -- room on each page for HOT updates of state/next_event_id
CREATE INDEX executions_by_start ON executions (namespace, start_time);
CREATE INDEX executions_by_status ON executions (namespace, status, start_time);
CREATE INDEX executions_by_type ON executions (namespace, workflow_type, start_time);
CREATE INDEX executions_by_close ON executions (close_time);

-- The latest run of each workflow id.
CREATE TABLE current_runs (
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (namespace, workflow_id)
);

CREATE TABLE events (
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    event_id BIGINT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (namespace, workflow_id, run_id, event_id)
);

-- Workflow and activity tasks: ready when lease_session is NULL and visible_at has passed.
CREATE TABLE tasks (
    task_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace TEXT NOT NULL,
    task_queue TEXT NOT NULL,
    kind TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    ref TEXT NOT NULL,
    visible_at DOUBLE PRECISION NOT NULL,
    sticky_session TEXT,
    sticky_until DOUBLE PRECISION,
    lease_session TEXT,
    dispatch_no BIGINT NOT NULL DEFAULT 0,
    dispatched_at DOUBLE PRECISION,
    payload TEXT NOT NULL
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02,
        autovacuum_vacuum_cost_delay = 0);
-- Rows live seconds: vacuum often (and unthrottled) so dead tuples do not pile up.
CREATE UNIQUE INDEX tasks_by_ref ON tasks (namespace, workflow_id, run_id, kind, ref);
CREATE INDEX tasks_ready ON tasks (namespace, task_queue, kind, visible_at);
CREATE INDEX tasks_by_session ON tasks (lease_session);

-- Durable timers: user timers, activity and workflow-task timeouts, execution timeouts.
CREATE TABLE timers (
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    fire_at DOUBLE PRECISION NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (namespace, workflow_id, run_id, kind, ref)
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02,
        autovacuum_vacuum_cost_delay = 0);
CREATE INDEX timers_due ON timers (fire_at);

-- The attempt log: every activity attempt, whatever its end.
CREATE TABLE attempts (
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    activity_type TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    ended_at DOUBLE PRECISION,
    outcome TEXT,
    failure TEXT,
    worker TEXT,
    PRIMARY KEY (namespace, workflow_id, run_id, activity_id, attempt)
);

-- Worker sessions: a lease the worker renews; on expiry its tasks are re-dispatched.
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    task_queue TEXT NOT NULL,
    identity TEXT NOT NULL,
    info TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
) WITH (fillfactor = 50);  -- renewed every second by every worker
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Client request ids, so a retried call is answered, not applied twice.
CREATE TABLE requests (
    namespace TEXT NOT NULL,
    request_id TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (namespace, request_id)
);
CREATE INDEX requests_by_age ON requests (created_at);
