-- Batch jobs (server/batches.py): one operation (terminate, cancel, signal, reset) applied to
-- every run a list filter matched when the job started, a page per transaction.
-- spec: what to do and to which runs (store.batches.BatchSpec, JSON: the filter, reason,
-- signal and its arguments, reset options, operations per second);
-- cursor: the (start_time, workflow_id, run_id) of the last run acted on, JSON, null before
-- the first page; it moves in the same transaction as that page's actions, so a restart
-- resumes after it and no run is acted on twice.
-- next_run_at: wall time at which the next page may be taken (the rate limit); null once
-- the job is closed.
CREATE TABLE batch_jobs (
    namespace TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    state TEXT NOT NULL,
    spec TEXT NOT NULL,
    total BIGINT NOT NULL,
    done BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    cursor TEXT,
    last_error TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    closed_at DOUBLE PRECISION,
    next_run_at DOUBLE PRECISION,
    PRIMARY KEY (namespace, batch_id)
);
CREATE INDEX batch_jobs_next_run ON batch_jobs (next_run_at) WHERE next_run_at IS NOT NULL;
CREATE INDEX batch_jobs_created ON batch_jobs (namespace, created_at);
