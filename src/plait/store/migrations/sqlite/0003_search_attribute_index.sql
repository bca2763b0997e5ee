-- The search-attribute index: one row per (run, attribute), the value in the canonical text
-- of plait.store.search_index (type tag + spelling, so 1 = 1.0 but "1" <> 1 and true <> 1).
-- A filtered list reads search_attributes_by_value in the list's order (start_time,
-- workflow_id, run_id, newest first), so a page is one index range, however many runs
-- there are. start_time is the run's, copied (it never changes). Existing runs are indexed
-- by the migration's data step (search_index.backfill), in the same transaction.
CREATE TABLE search_attributes (
    namespace TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    start_time DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (namespace, workflow_id, run_id, name)
);
CREATE INDEX search_attributes_by_value
    ON search_attributes (namespace, name, value, start_time, workflow_id, run_id);
