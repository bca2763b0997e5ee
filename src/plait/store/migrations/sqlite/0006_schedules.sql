-- Schedules: durable rows the timer service drives (server/schedules.py).
-- definition: what to start and when (protocol.schedules.ScheduleDefinition, JSON);
-- state: counters, recent actions, running and buffered due times (store.schedules, JSON);
-- next_fire_at: when the timer service must look at the schedule next (the next due time
-- plus its jitter, or a recheck of buffered due times); null while paused or finished.
CREATE TABLE schedules (
    namespace TEXT NOT NULL,
    schedule_id TEXT NOT NULL,
    definition TEXT NOT NULL,
    state TEXT NOT NULL,
    next_fire_at DOUBLE PRECISION,
    PRIMARY KEY (namespace, schedule_id)
);
CREATE INDEX schedules_next_fire ON schedules (next_fire_at) WHERE next_fire_at IS NOT NULL;
