-- SQLite's own named queries: they replace the query of the same name in queries.sql, or exist
-- only here. Parameters are :name, as in queries.sql.
--
-- The listing watch (sqlite.py, Store.listing_version): TEMP triggers, which live in the
-- server's connection only (never in the database file or its schema), count in a TEMP table
-- every change that could alter what a list or count of a namespace's runs shows. Every write
-- path is covered, whichever statement it uses. An update that changes none of the listed
-- columns (each new event moves next_event_id and state only) counts nothing.

-- name: watch_listing_counts
-- Counted in plain SQL: a Python function called from a trigger took the GIL back in the middle
-- of the statement, waiting on the event loop (3 % of W1's throughput). The table is counted in
-- the same transaction as the change, so a rolled-back change counts nothing; the store reads
-- and clears it before each write batch commits and adds it up once the commit succeeded.
CREATE TEMP TABLE IF NOT EXISTS plait_listing_counts (
    namespace TEXT PRIMARY KEY,
    n INTEGER NOT NULL
)

-- name: watch_listing_insert
CREATE TEMP TRIGGER IF NOT EXISTS plait_listing_insert AFTER INSERT ON main.executions
BEGIN
  INSERT INTO plait_listing_counts VALUES (NEW.namespace, 1)
  ON CONFLICT (namespace) DO UPDATE SET n = n + 1;
END;

-- name: watch_listing_update
CREATE TEMP TRIGGER IF NOT EXISTS plait_listing_update AFTER UPDATE ON main.executions
WHEN OLD.status IS NOT NEW.status OR OLD.close_time IS NOT NEW.close_time
  OR OLD.search_attributes IS NOT NEW.search_attributes
  OR OLD.workflow_type IS NOT NEW.workflow_type OR OLD.task_queue IS NOT NEW.task_queue
  OR OLD.start_time IS NOT NEW.start_time OR OLD.namespace IS NOT NEW.namespace
  OR OLD.workflow_id IS NOT NEW.workflow_id OR OLD.run_id IS NOT NEW.run_id
BEGIN
  INSERT INTO plait_listing_counts
  SELECT ns, 1 FROM (SELECT OLD.namespace AS ns UNION ALL SELECT NEW.namespace) WHERE true
  ON CONFLICT (namespace) DO UPDATE SET n = n + 1;
END;

-- name: watch_listing_delete
CREATE TEMP TRIGGER IF NOT EXISTS plait_listing_delete AFTER DELETE ON main.executions
BEGIN
  INSERT INTO plait_listing_counts VALUES (OLD.namespace, 1)
  ON CONFLICT (namespace) DO UPDATE SET n = n + 1;
END;

-- name: watch_index_insert
CREATE TEMP TRIGGER IF NOT EXISTS plait_index_insert AFTER INSERT ON main.search_attributes
BEGIN
  INSERT INTO plait_listing_counts VALUES (NEW.namespace, 1)
  ON CONFLICT (namespace) DO UPDATE SET n = n + 1;
END;

-- name: watch_index_update
CREATE TEMP TRIGGER IF NOT EXISTS plait_index_update AFTER UPDATE ON main.search_attributes
WHEN OLD.value IS NOT NEW.value OR OLD.start_time IS NOT NEW.start_time
  OR OLD.namespace IS NOT NEW.namespace OR OLD.workflow_id IS NOT NEW.workflow_id
  OR OLD.run_id IS NOT NEW.run_id OR OLD.name IS NOT NEW.name
BEGIN
  INSERT INTO plait_listing_counts
  SELECT ns, 1 FROM (SELECT OLD.namespace AS ns UNION ALL SELECT NEW.namespace) WHERE true
  ON CONFLICT (namespace) DO UPDATE SET n = n + 1;
END;

-- name: watch_index_delete
CREATE TEMP TRIGGER IF NOT EXISTS plait_index_delete AFTER DELETE ON main.search_attributes
BEGIN
  INSERT INTO plait_listing_counts VALUES (OLD.namespace, 1)
  ON CONFLICT (namespace) DO UPDATE SET n = n + 1;
END;

-- name: listing_counts
SELECT namespace, n FROM temp.plait_listing_counts

-- name: clear_listing_counts
-- Emptied by each write batch that found counts in it: the table holds one batch's changes,
-- so reading it costs what the batch touched, not one row per namespace ever changed.
DELETE FROM temp.plait_listing_counts

