-- Claims look for tasks nobody holds. The old index also held every leased task, so under
-- load (a thousand tasks out at workers, most of them handed out eagerly) each claim and each
-- "when is the next task visible" read stepped over all of them. Index the unleased ones only.
DROP INDEX tasks_ready;
CREATE INDEX tasks_ready ON tasks (namespace, task_queue, kind, visible_at, task_id)
    WHERE lease_session IS NULL;
