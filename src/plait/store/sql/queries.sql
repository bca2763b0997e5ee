-- Named queries of the store. Parameters are :name; backends translate the style.

-- name: get_execution
SELECT workflow_id, run_id, workflow_type, task_queue, status, start_time, close_time,
       next_event_id, state, result, search_attributes, memo
FROM executions WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid;

-- name: get_current_run
SELECT run_id FROM current_runs WHERE namespace = :ns AND workflow_id = :wid;

-- name: set_current_run
INSERT INTO current_runs (namespace, workflow_id, run_id) VALUES (:ns, :wid, :rid)
ON CONFLICT (namespace, workflow_id) DO UPDATE SET run_id = excluded.run_id;

-- name: insert_execution
INSERT INTO executions (namespace, workflow_id, run_id, workflow_type, task_queue, status,
                        start_time, close_time, next_event_id, state, result,
                        search_attributes, memo)
VALUES (:ns, :wid, :rid, :workflow_type, :task_queue, :status, :start_time, NULL,
        :next_event_id, :state, NULL, :search_attributes, :memo);

-- name: update_execution
UPDATE executions SET status = :status, close_time = :close_time, next_event_id = :next_event_id,
                      state = :state, result = :result
WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid AND next_event_id = :expected;

-- name: insert_event
INSERT INTO events (namespace, workflow_id, run_id, event_id, data)
VALUES (:ns, :wid, :rid, :event_id, :data);

-- name: get_events
SELECT data FROM events
WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid AND event_id > :after
ORDER BY event_id;

-- name: get_events_page
SELECT data FROM events
WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid AND event_id > :after
ORDER BY event_id LIMIT :limit;

-- name: insert_task
INSERT INTO tasks (namespace, task_queue, kind, workflow_id, run_id, ref, visible_at,
                   sticky_session, sticky_until, lease_session, dispatch_no, payload)
VALUES (:ns, :task_queue, :kind, :wid, :rid, :ref, :visible_at, :sticky_session, :sticky_until,
        NULL, 0, :payload)
RETURNING task_id;

-- name: get_task
SELECT task_id, namespace, task_queue, kind, workflow_id, run_id, ref, visible_at,
       lease_session, dispatch_no, dispatched_at, lease_request, payload
FROM tasks WHERE task_id = :task_id;

-- name: get_task_by_ref
SELECT task_id, namespace, task_queue, kind, workflow_id, run_id, ref, visible_at,
       lease_session, dispatch_no, dispatched_at, lease_request, payload
FROM tasks WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid AND kind = :kind
             AND ref = :ref;

-- name: tasks_of_run
SELECT task_id, namespace, task_queue, kind, workflow_id, run_id, ref, visible_at,
       lease_session, dispatch_no, dispatched_at, lease_request, payload
FROM tasks WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid ORDER BY task_id;

-- name: claim_tasks
-- Nothing for a session that is gone (the caller reads the session too, and refuses it).
UPDATE tasks SET lease_session = :session, dispatch_no = dispatch_no + 1, dispatched_at = :now,
                 lease_request = :request
WHERE task_id IN (
    SELECT task_id FROM tasks
    WHERE namespace = :ns AND task_queue = :task_queue AND kind = :kind
      AND lease_session IS NULL AND visible_at <= :now
      AND (sticky_session IS NULL OR sticky_session = :session OR sticky_until <= :now)
      AND EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = :session)
    ORDER BY visible_at, task_id LIMIT :limit)
RETURNING task_id, namespace, task_queue, kind, workflow_id, run_id, ref, visible_at,
          lease_session, dispatch_no, dispatched_at, lease_request, payload;

-- name: claim_task_by_id
UPDATE tasks SET lease_session = :session, dispatch_no = dispatch_no + 1, dispatched_at = :now,
                 lease_request = :request
WHERE task_id = :task_id AND lease_session IS NULL
RETURNING task_id, namespace, task_queue, kind, workflow_id, run_id, ref, visible_at,
          lease_session, dispatch_no, dispatched_at, lease_request, payload;

-- name: next_visible
SELECT MIN(CASE WHEN sticky_session IS NOT NULL AND sticky_session <> :session
                     AND sticky_until > visible_at THEN sticky_until ELSE visible_at END)
FROM tasks
WHERE namespace = :ns AND task_queue = :task_queue AND kind = :kind AND lease_session IS NULL;

-- name: busy_tasks
-- Time skipping: workflow and activity tasks ready now or out at a worker (queries don't count:
-- they change nothing durable, and one whose asker left lingers until a worker claims it).
SELECT COUNT(*) FROM tasks
WHERE kind <> 'query' AND (lease_session IS NOT NULL OR visible_at <= :now);

-- name: next_task_visible
-- Tasks held back (a paused run or activity: visible_at past :held) are not due at all.
SELECT MIN(visible_at) FROM tasks
WHERE kind <> 'query' AND lease_session IS NULL AND visible_at < :held;

-- name: release_task
UPDATE tasks SET lease_session = NULL, visible_at = :visible_at, sticky_session = NULL,
                 sticky_until = NULL, payload = :payload
WHERE task_id = :task_id;

-- name: update_task_payload
UPDATE tasks SET payload = :payload WHERE task_id = :task_id;

-- name: delete_task
DELETE FROM tasks WHERE task_id = :task_id;

-- name: delete_tasks_of_run
DELETE FROM tasks WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid;

-- name: delete_work_tasks_of_run
-- A closed run's workflow and activity tasks; its queries stay (a closed run answers them).
DELETE FROM tasks WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid
  AND kind <> 'query'
RETURNING task_id, namespace, task_queue, kind, workflow_id, run_id, ref, visible_at,
          lease_session, dispatch_no, dispatched_at, lease_request, payload;

-- name: drop_work_tasks_of_run
-- delete_work_tasks_of_run when nobody needs to know what it deleted.
DELETE FROM tasks WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid
  AND kind <> 'query';

-- name: orphaned_tasks
-- Tasks leased to a worker session that no longer exists: a claim that raced the session's
-- expiry on another server (READ COMMITTED) and committed after it. Nothing else would ever
-- hand them out again.
SELECT task_id, namespace, task_queue, kind, workflow_id, run_id, ref, visible_at,
       lease_session, dispatch_no, dispatched_at, lease_request, payload
FROM tasks t
WHERE t.lease_session IS NOT NULL AND t.lease_session <> :async_lease
  AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = t.lease_session)
ORDER BY task_id LIMIT 100;

-- name: leased_tasks_of_session
SELECT task_id, namespace, task_queue, kind, workflow_id, run_id, ref, visible_at,
       lease_session, dispatch_no, dispatched_at, lease_request, payload
FROM tasks WHERE lease_session = :session ORDER BY task_id;

-- name: clear_sticky
UPDATE tasks SET sticky_session = NULL, sticky_until = NULL WHERE sticky_session = :session
RETURNING namespace, task_queue, kind;

-- name: upsert_timer
INSERT INTO timers (namespace, workflow_id, run_id, kind, ref, fire_at, data)
VALUES (:ns, :wid, :rid, :kind, :ref, :fire_at, :data)
ON CONFLICT (namespace, workflow_id, run_id, kind, ref)
DO UPDATE SET fire_at = excluded.fire_at, data = excluded.data;

-- name: delete_timer
DELETE FROM timers
WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid AND kind = :kind AND ref = :ref;

-- name: delete_timers_of_run
DELETE FROM timers WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid;

-- name: due_timers
SELECT namespace, workflow_id, run_id, kind, ref, fire_at, data FROM timers
WHERE fire_at <= :now ORDER BY fire_at LIMIT :limit;

-- name: get_timer
SELECT namespace, workflow_id, run_id, kind, ref, fire_at, data FROM timers
WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid AND kind = :kind AND ref = :ref;

-- name: next_timer
SELECT MIN(fire_at) FROM timers;

-- name: insert_attempt
INSERT INTO attempts (namespace, workflow_id, run_id, activity_id, attempt, activity_type,
                      started_at, worker)
VALUES (:ns, :wid, :rid, :aid, :attempt, :activity_type, :started_at, :worker)
ON CONFLICT (namespace, workflow_id, run_id, activity_id, attempt)
DO UPDATE SET started_at = excluded.started_at, worker = excluded.worker;

-- name: end_attempt
-- An attempt's row is written when it ends (one statement per attempt, not two); only an
-- attempt handed over for async completion has an open row already (insert_attempt).
INSERT INTO attempts (namespace, workflow_id, run_id, activity_id, attempt, activity_type,
                      started_at, worker, ended_at, outcome, failure)
VALUES (:ns, :wid, :rid, :aid, :attempt, :activity_type, :started_at, :worker, :ended_at,
        :outcome, :failure)
ON CONFLICT (namespace, workflow_id, run_id, activity_id, attempt)
DO UPDATE SET ended_at = excluded.ended_at, outcome = excluded.outcome,
              failure = excluded.failure
WHERE attempts.ended_at IS NULL;

-- name: attempts_of_run
SELECT activity_id, attempt, activity_type, started_at, ended_at, outcome, failure, worker
FROM attempts WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid
ORDER BY started_at, activity_id, attempt;

-- name: upsert_session
INSERT INTO sessions (session_id, namespace, task_queue, identity, info, expires_at)
VALUES (:session, :ns, :task_queue, :identity, :info, :expires_at)
ON CONFLICT (session_id) DO UPDATE SET expires_at = excluded.expires_at;

-- name: get_session
SELECT session_id, namespace, task_queue, identity, info, expires_at FROM sessions
WHERE session_id = :session;

-- name: renew_session
UPDATE sessions SET expires_at = :expires_at WHERE session_id = :session;

-- name: shorten_session
UPDATE sessions SET expires_at = CASE WHEN expires_at > :expires_at THEN :expires_at
                                      ELSE expires_at END
WHERE session_id = :session;

-- name: delete_session
DELETE FROM sessions WHERE session_id = :session;

-- name: expired_sessions
SELECT session_id FROM sessions WHERE expires_at <= :now LIMIT 100;

-- name: extend_all_sessions
UPDATE sessions SET expires_at = :expires_at WHERE expires_at < :expires_at;

-- name: reset_session_leases
UPDATE sessions SET expires_at = :expires_at RETURNING session_id;

-- name: next_session_expiry
SELECT MIN(expires_at) FROM sessions;

-- name: get_request
SELECT response FROM requests WHERE namespace = :ns AND request_id = :request_id;

-- name: insert_request
INSERT INTO requests (namespace, request_id, response, created_at)
VALUES (:ns, :request_id, :response, :now);

-- name: delete_old_requests
DELETE FROM requests WHERE created_at < :before;

-- name: get_namespace
SELECT name, retention_seconds FROM namespaces WHERE name = :ns;

-- name: ensure_namespace
INSERT INTO namespaces (name, retention_seconds) VALUES (:ns, :retention)
ON CONFLICT (name) DO NOTHING;

-- name: expired_runs
SELECT e.namespace, e.workflow_id, e.run_id FROM executions e
JOIN namespaces n ON n.name = e.namespace
WHERE e.close_time IS NOT NULL AND e.close_time < :now - n.retention_seconds LIMIT 500;

-- name: delete_execution
DELETE FROM executions WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid;

-- name: delete_events_of_run
DELETE FROM events WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid;

-- name: delete_attempts_of_run
DELETE FROM attempts WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid;

-- name: insert_buffered_event
INSERT INTO buffered_events (namespace, workflow_id, run_id, seq, data)
VALUES (:ns, :wid, :rid, :seq, :data);

-- name: buffered_events
SELECT data FROM buffered_events
WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid ORDER BY seq;

-- name: delete_buffered_events
DELETE FROM buffered_events WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid;

-- name: delete_current_run_if
DELETE FROM current_runs WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid;

-- name: set_task_lease
UPDATE tasks SET lease_session = :session WHERE task_id = :task_id;

-- name: set_search_attributes
UPDATE executions SET search_attributes = :search_attributes
WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid;

-- name: set_rate_limit
INSERT INTO rate_limits (namespace, task_queue, activity_type, per_second, burst, per_key)
VALUES (:ns, :task_queue, :activity_type, :per_second, :burst, :per_key)
ON CONFLICT (namespace, task_queue, activity_type)
DO UPDATE SET per_second = excluded.per_second, burst = excluded.burst,
              per_key = excluded.per_key;

-- name: delete_rate_limit
DELETE FROM rate_limits
WHERE namespace = :ns AND task_queue = :task_queue AND activity_type = :activity_type;

-- name: delete_rate_buckets
DELETE FROM rate_buckets
WHERE namespace = :ns AND task_queue = :task_queue AND activity_type = :activity_type;

-- name: rate_limits_of_queue
SELECT activity_type, per_second, burst, per_key FROM rate_limits
WHERE namespace = :ns AND task_queue = :task_queue;

-- name: rate_limits
SELECT task_queue, activity_type, per_second, burst, per_key FROM rate_limits
WHERE namespace = :ns ORDER BY task_queue, activity_type;

-- name: ensure_rate_bucket
INSERT INTO rate_buckets (namespace, task_queue, activity_type, bucket_key, tokens, updated_at)
VALUES (:ns, :task_queue, :activity_type, :bucket_key, :tokens, :now)
ON CONFLICT (namespace, task_queue, activity_type, bucket_key) DO NOTHING;

-- name: get_rate_bucket
SELECT tokens, updated_at FROM rate_buckets
WHERE namespace = :ns AND task_queue = :task_queue AND activity_type = :activity_type
  AND bucket_key = :bucket_key;

-- name: set_rate_bucket
UPDATE rate_buckets SET tokens = :tokens, updated_at = :now
WHERE namespace = :ns AND task_queue = :task_queue AND activity_type = :activity_type
  AND bucket_key = :bucket_key;

-- name: delete_attempt
DELETE FROM attempts WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid
  AND activity_id = :aid AND attempt = :attempt;

-- name: upsert_search_attribute
INSERT INTO search_attributes (namespace, workflow_id, run_id, name, value, start_time)
VALUES (:ns, :wid, :rid, :name, :value, :start_time)
ON CONFLICT (namespace, workflow_id, run_id, name) DO UPDATE SET value = excluded.value;

-- name: delete_search_attributes_of_run
DELETE FROM search_attributes WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid;

-- -- schedules (store/schedules.py) -------------------------------------------------------
-- name: insert_schedule
INSERT INTO schedules (namespace, schedule_id, definition, state, next_fire_at)
VALUES (:ns, :sid, :definition, :state, :next_fire_at)
ON CONFLICT (namespace, schedule_id) DO NOTHING;

-- name: get_schedule
SELECT schedule_id, definition, state, next_fire_at FROM schedules
WHERE namespace = :ns AND schedule_id = :sid;

-- name: get_schedule_for_update
SELECT schedule_id, definition, state, next_fire_at FROM schedules
WHERE namespace = :ns AND schedule_id = :sid;

-- name: update_schedule
UPDATE schedules SET definition = :definition, state = :state, next_fire_at = :next_fire_at
WHERE namespace = :ns AND schedule_id = :sid;

-- name: set_schedule_fire_at
UPDATE schedules SET next_fire_at = :at WHERE namespace = :ns AND schedule_id = :sid;

-- name: hasten_schedule
-- Only ever earlier: a look already due sooner, or a schedule with no next look, stays.
UPDATE schedules SET next_fire_at = :at
WHERE namespace = :ns AND schedule_id = :sid AND next_fire_at > :at;

-- name: delete_schedule
DELETE FROM schedules WHERE namespace = :ns AND schedule_id = :sid;

-- name: list_schedules
SELECT schedule_id, definition, state, next_fire_at FROM schedules
WHERE namespace = :ns AND schedule_id > :after ORDER BY schedule_id LIMIT :limit;

-- name: due_schedules
SELECT namespace, schedule_id FROM schedules
WHERE next_fire_at IS NOT NULL AND next_fire_at <= :now ORDER BY next_fire_at LIMIT :limit;

-- name: next_schedule_fire
SELECT MIN(next_fire_at) FROM schedules WHERE next_fire_at IS NOT NULL;

-- Scrape-time gauges (store/gauges.py).

-- name: open_runs_by_type
SELECT namespace, workflow_type, COUNT(*) FROM executions
WHERE status = 'RUNNING' GROUP BY namespace, workflow_type;

-- name: backlog_by_queue
SELECT namespace, task_queue, kind, COUNT(*) FROM tasks
WHERE lease_session IS NULL AND visible_at <= :now GROUP BY namespace, task_queue, kind;

-- Describing one task queue (store/task_queues.py).

-- name: queue_pollers
SELECT session_id, identity, info, expires_at FROM sessions
WHERE namespace = :ns AND task_queue = :queue AND expires_at > :now
ORDER BY identity, session_id;

-- name: queue_backlog
SELECT kind, COUNT(*), MIN(visible_at) FROM tasks
WHERE namespace = :ns AND task_queue = :queue AND lease_session IS NULL
  AND visible_at <= :now
GROUP BY kind ORDER BY kind;

-- name: live_sessions_by_queue
SELECT namespace, task_queue, COUNT(*) FROM sessions
WHERE expires_at > :now GROUP BY namespace, task_queue;

-- name: create_namespace
INSERT INTO namespaces (name, retention_seconds, description, created_at)
VALUES (:ns, :retention, :description, :now)
ON CONFLICT (name) DO NOTHING;

-- name: describe_namespace
SELECT name, retention_seconds, description, created_at FROM namespaces WHERE name = :ns;

-- name: list_namespaces
SELECT name, retention_seconds, description, created_at FROM namespaces ORDER BY name;

-- name: update_namespace
UPDATE namespaces SET retention_seconds = COALESCE(:retention, retention_seconds),
                      description = COALESCE(:description, description)
WHERE name = :ns;

-- name: insert_api_key
INSERT INTO api_keys (key_id, name, namespace, role, secret_hash, created_at, expires_at,
                      revoked_at)
VALUES (:key_id, :key_name, :ns, :role, :secret_hash, :now, :expires_at, NULL);

-- name: get_api_key
SELECT key_id, name, namespace, role, secret_hash, created_at, expires_at, revoked_at
FROM api_keys WHERE key_id = :key_id;

-- name: list_api_keys
SELECT key_id, name, namespace, role, secret_hash, created_at, expires_at, revoked_at
FROM api_keys ORDER BY created_at, key_id;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = :now WHERE key_id = :key_id AND revoked_at IS NULL;

-- -- batch jobs (store/batches.py) ---------------------------------------------------------
-- name: insert_batch
INSERT INTO batch_jobs (namespace, batch_id, operation, state, spec, total, done, failed,
                        cursor, last_error, created_at, closed_at, next_run_at)
VALUES (:ns, :bid, :operation, :state, :spec, :total, :done, :failed, :cursor, :last_error,
        :created_at, :closed_at, :next_run_at)
ON CONFLICT (namespace, batch_id) DO NOTHING;

-- name: get_batch
SELECT batch_id, operation, state, spec, total, done, failed, cursor, last_error, created_at,
       closed_at, next_run_at
FROM batch_jobs WHERE namespace = :ns AND batch_id = :bid;

-- name: get_batch_for_update
SELECT batch_id, operation, state, spec, total, done, failed, cursor, last_error, created_at,
       closed_at, next_run_at
FROM batch_jobs WHERE namespace = :ns AND batch_id = :bid;

-- name: update_batch
UPDATE batch_jobs SET state = :state, total = :total, done = :done, failed = :failed,
                      cursor = :cursor, last_error = :last_error, closed_at = :closed_at,
                      next_run_at = :next_run_at
WHERE namespace = :ns AND batch_id = :bid;

-- name: list_batches
SELECT batch_id, operation, state, spec, total, done, failed, cursor, last_error, created_at,
       closed_at, next_run_at
FROM batch_jobs WHERE namespace = :ns
ORDER BY created_at DESC, batch_id DESC LIMIT :limit;

-- name: list_batches_after
SELECT batch_id, operation, state, spec, total, done, failed, cursor, last_error, created_at,
       closed_at, next_run_at
FROM batch_jobs WHERE namespace = :ns AND (created_at < :a_t OR (created_at = :a_t
                                                                AND batch_id < :a_id))
ORDER BY created_at DESC, batch_id DESC LIMIT :limit;

-- name: due_batches
SELECT namespace, batch_id FROM batch_jobs
WHERE next_run_at IS NOT NULL AND next_run_at <= :now ORDER BY next_run_at LIMIT :limit;

-- name: next_batch_run
SELECT MIN(next_run_at) FROM batch_jobs WHERE next_run_at IS NOT NULL;

-- name: delete_expired_batches
DELETE FROM batch_jobs
WHERE closed_at IS NOT NULL
  AND closed_at < :now - (SELECT n.retention_seconds FROM namespaces n
                          WHERE n.name = batch_jobs.namespace);
