-- Rate limits on activity dispatch, enforced where tasks are claimed, across every server.
-- (PostgreSQL; the same tables as sqlite/0002_rate_limits.sql.)
-- activity_type '' limits every type of the queue; per_key gives each rate_limit_key of
-- execute_activity its own bucket.
CREATE TABLE rate_limits (
    namespace TEXT NOT NULL,
    task_queue TEXT NOT NULL,
    activity_type TEXT NOT NULL,
    per_second DOUBLE PRECISION NOT NULL,
    burst DOUBLE PRECISION NOT NULL,
    per_key INTEGER NOT NULL,
    PRIMARY KEY (namespace, task_queue, activity_type)
);

-- Token buckets: tokens as of updated_at; they refill at per_second up to burst.
-- bucket_key is the rate_limit_key ('' when the limit is not per key).
CREATE TABLE rate_buckets (
    namespace TEXT NOT NULL,
    task_queue TEXT NOT NULL,
    activity_type TEXT NOT NULL,
    bucket_key TEXT NOT NULL,
    tokens DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (namespace, task_queue, activity_type, bucket_key)
) WITH (fillfactor = 50);  -- a bucket row is updated on every claim
