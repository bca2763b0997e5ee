-- PostgreSQL's own named queries: they replace the query of the same name in queries.sql, or
-- exist only here. Parameters are :name, as in queries.sql.
--
-- The rule that keeps several servers correct (see pgtxn.py): a write transaction locks a
-- run's `executions` row before it reads or writes anything else of that run. Claims take the
-- run's lock with SKIP LOCKED, so they never wait, and a run being changed is skipped for now.

-- name: claim_tasks
-- With each task, its run's row as the lock gave it (a locking read returns the latest
-- committed version), in get_execution_for_update's columns: handing out a workflow task
-- reads the run, and this saves that read a round trip. Nothing for a session that is gone
-- (the caller reads the session in the same round trip and refuses it).
WITH picked AS (
    SELECT t.task_id, e.workflow_type, e.status, e.start_time, e.close_time,
           e.next_event_id, e.state, e.result, e.search_attributes, e.memo,
           e.task_queue AS run_task_queue
    FROM tasks t
    JOIN executions e ON e.namespace = t.namespace AND e.workflow_id = t.workflow_id
                     AND e.run_id = t.run_id
    WHERE t.namespace = :ns AND t.task_queue = :task_queue AND t.kind = :kind
      AND t.lease_session IS NULL AND t.visible_at <= :now
      AND (t.sticky_session IS NULL OR t.sticky_session = :session OR t.sticky_until <= :now)
      AND EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = :session)
    ORDER BY t.visible_at, t.task_id LIMIT :limit
    FOR UPDATE OF t, e SKIP LOCKED)
UPDATE tasks SET lease_session = :session, dispatch_no = dispatch_no + 1, dispatched_at = :now,
                 lease_request = :request
FROM picked WHERE tasks.task_id = picked.task_id
RETURNING tasks.task_id, tasks.namespace, tasks.task_queue, tasks.kind, tasks.workflow_id,
          tasks.run_id, tasks.ref, tasks.visible_at, tasks.lease_session, tasks.dispatch_no,
          tasks.dispatched_at, tasks.lease_request, tasks.payload,
          tasks.workflow_id, tasks.run_id, picked.workflow_type, picked.run_task_queue,
          picked.status, picked.start_time, picked.close_time, picked.next_event_id,
          picked.state, picked.result, picked.search_attributes, picked.memo;

-- name: claim_due_timers
SELECT tm.namespace, tm.workflow_id, tm.run_id, tm.kind, tm.ref, tm.fire_at, tm.data
FROM timers tm
JOIN executions e ON e.namespace = tm.namespace AND e.workflow_id = tm.workflow_id
                 AND e.run_id = tm.run_id
WHERE tm.fire_at <= :now ORDER BY tm.fire_at LIMIT :limit
FOR UPDATE OF tm, e SKIP LOCKED;

-- name: get_execution_for_update
SELECT workflow_id, run_id, workflow_type, task_queue, status, start_time, close_time,
       next_event_id, state, result, search_attributes, memo
FROM executions WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid FOR UPDATE;

-- name: lock_execution_of_task
SELECT e.namespace, e.workflow_id, e.run_id, e.workflow_type, e.task_queue, e.status,
       e.start_time, e.close_time, e.next_event_id, e.state, e.result, e.search_attributes,
       e.memo
FROM executions e
WHERE (e.namespace, e.workflow_id, e.run_id) =
      (SELECT namespace, workflow_id, run_id FROM tasks WHERE task_id = :task_id)
FOR UPDATE;

-- name: lock_execution_of_task_ahead
-- lock_execution_of_task for a later change of a group (pgtxn.LocksAhead): nothing when
-- another transaction holds the run, which the change then locks itself.
SELECT e.namespace, e.workflow_id, e.run_id, e.workflow_type, e.task_queue, e.status,
       e.start_time, e.close_time, e.next_event_id, e.state, e.result, e.search_attributes,
       e.memo
FROM executions e
WHERE (e.namespace, e.workflow_id, e.run_id) =
      (SELECT namespace, workflow_id, run_id FROM tasks WHERE task_id = :task_id)
FOR UPDATE SKIP LOCKED;

-- name: insert_task_with_id
-- A task whose id the store took in advance (next_task_ids): nothing to wait for.
INSERT INTO tasks (task_id, namespace, task_queue, kind, workflow_id, run_id, ref, visible_at,
                   sticky_session, sticky_until, lease_session, dispatch_no, payload)
OVERRIDING SYSTEM VALUE
VALUES (:task_id, :ns, :task_queue, :kind, :wid, :rid, :ref, :visible_at, :sticky_session,
        :sticky_until, NULL, 0, :payload);

-- name: next_task_ids
SELECT nextval(pg_get_serial_sequence('tasks', 'task_id')) FROM generate_series(1, :n);

-- name: run_of_task
SELECT namespace, workflow_id, run_id FROM tasks WHERE task_id = :task_id;

-- name: insert_current_run
INSERT INTO current_runs (namespace, workflow_id, run_id) VALUES (:ns, :wid, :rid);

-- name: swap_current_run
UPDATE current_runs SET run_id = :rid
WHERE namespace = :ns AND workflow_id = :wid AND run_id = :seen;

-- name: expired_sessions
SELECT session_id FROM sessions WHERE expires_at <= :now LIMIT 100 FOR UPDATE SKIP LOCKED;

-- name: clear_sticky
UPDATE tasks SET sticky_session = NULL, sticky_until = NULL
WHERE task_id IN (SELECT task_id FROM tasks WHERE sticky_session = :session
                  FOR UPDATE SKIP LOCKED)
RETURNING namespace, task_queue, kind;

-- name: closed_runs
SELECT k.ns, k.wid, k.rid
FROM unnest(:ns::text[], :wid::text[], :rid::text[]) AS k (ns, wid, rid)
LEFT JOIN executions e ON e.namespace = k.ns AND e.workflow_id = k.wid AND e.run_id = k.rid
WHERE e.run_id IS NULL OR e.close_time IS NOT NULL;

-- name: claim_known_task
-- claim_task_by_id for a task the transaction knows unleased (it wrote it, under its lock on
-- the run): nothing to return, and a task leased after all raises (migration 0010).
WITH c AS (
    UPDATE tasks SET lease_session = :session, dispatch_no = dispatch_no + 1,
                     dispatched_at = :now, lease_request = :request
    WHERE task_id = :task_id AND lease_session IS NULL
    RETURNING 1
)
SELECT plait_expect_one(count(*), 'task ' || :task_id) FROM c;

-- name: claim_written_tasks
-- A hand-off's claim of tasks its transaction knows ready and unleased under its own locks
-- on their runs (pgtxn.py, claim_known_later): its answer is read after COMMIT, so nothing
-- waits for it. As claim_tasks: nothing for a session that is gone, nothing sticky to
-- another worker in its window. The ids of the tasks it leased.
UPDATE tasks SET lease_session = :session, dispatch_no = dispatch_no + 1,
                 dispatched_at = :now, lease_request = :request
WHERE task_id = ANY(string_to_array(:ids, ',')::bigint[]) AND lease_session IS NULL
  AND visible_at <= :now
  AND (sticky_session IS NULL OR sticky_session = :session OR sticky_until <= :now)
  AND EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = :session)
RETURNING task_id;

-- name: update_execution_and_events
-- A run's change in one statement: its row, checked against the next event id this change
-- began from, and the events it appended (none: empty arrays), inserted only if the row was.
-- If another change came first, plait_expect_one raises (migration 0010), so nobody waits
-- for the count.
WITH u AS (
    UPDATE executions SET status = :status, close_time = :close_time,
                          next_event_id = :next_event_id, state = :state, result = :result
    WHERE namespace = :ns AND workflow_id = :wid AND run_id = :rid
      AND next_event_id = :expected
    RETURNING 1
), i AS (
    INSERT INTO events (namespace, workflow_id, run_id, event_id, data)
    SELECT :ns, :wid, :rid, e.id, e.data
    FROM unnest(string_to_array(:ids, ',')::bigint[], string_to_array(:datas, chr(30)))
     AS e (id, data)
    WHERE EXISTS (SELECT 1 FROM u)
)
SELECT plait_expect_one(count(*), 'workflow ' || :wid) FROM u;

-- name: insert_events
-- :datas is the events' JSON texts joined by chr(30), which JSON never holds unescaped
-- (pgtxn.py, EVENT_SEPARATOR): one plain text parameter, not a text[] to escape; :ids their
-- ids joined by commas, not a bigint[] that psycopg would dump element by element.
INSERT INTO events (namespace, workflow_id, run_id, event_id, data)
SELECT :ns, :wid, :rid, e.id, e.data
FROM unnest(string_to_array(:ids, ',')::bigint[], string_to_array(:datas, chr(30)))
     AS e (id, data);

-- name: delete_timers
DELETE FROM timers t
USING unnest(:ns::text[], :wid::text[], :rid::text[], :kind::text[], :ref::text[])
      AS k (ns, wid, rid, kind, ref)
WHERE t.namespace = k.ns AND t.workflow_id = k.wid AND t.run_id = k.rid AND t.kind = k.kind
  AND t.ref = k.ref;

-- name: get_rate_bucket
SELECT tokens, updated_at FROM rate_buckets
WHERE namespace = :ns AND task_queue = :task_queue AND activity_type = :activity_type
  AND bucket_key = :bucket_key
FOR UPDATE;

-- name: get_schedule_for_update
SELECT schedule_id, definition, state, next_fire_at FROM schedules
WHERE namespace = :ns AND schedule_id = :sid
FOR UPDATE;

-- name: due_schedules
-- Each due schedule goes to one transaction; another server skips it until the next look.
SELECT namespace, schedule_id FROM schedules
WHERE next_fire_at IS NOT NULL AND next_fire_at <= :now ORDER BY next_fire_at LIMIT :limit
FOR UPDATE SKIP LOCKED;

-- name: get_batch_for_update
SELECT batch_id, operation, state, spec, total, done, failed, cursor, last_error, created_at,
       closed_at, next_run_at
FROM batch_jobs WHERE namespace = :ns AND batch_id = :bid
FOR UPDATE;

-- name: due_batches
-- Each due batch job goes to one transaction: another server skips it while a page runs.
SELECT namespace, batch_id FROM batch_jobs
WHERE next_run_at IS NOT NULL AND next_run_at <= :now ORDER BY next_run_at LIMIT :limit
FOR UPDATE SKIP LOCKED;
