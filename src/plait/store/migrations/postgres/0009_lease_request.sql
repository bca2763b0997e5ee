-- The worker's number of the request whose answer carried a leased task to it (a poll, or a
-- completion that handed tasks back). A heartbeat says which numbered requests the worker had
-- sent and which it was still waiting on when it listed what it holds, so a task missing from
-- the list whose request was answered is known to be lost, whatever the delays (server/
-- sessions.py). Null for tasks claimed without a number (older workers): judged by time.
ALTER TABLE tasks ADD COLUMN lease_request BIGINT;
