-- Inputs (activity results, timers, signals) that arrive while a workflow task is out wait
-- here until that task ends, then join the history in arrival order. They lived in the run's
-- state JSON, which made a fan-out of n activities rewrite O(n^2) bytes.
CREATE TABLE buffered_events (
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (namespace, workflow_id, run_id, seq)
);
