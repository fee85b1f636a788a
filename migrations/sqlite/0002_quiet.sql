-- "Not seen since": when each tracked root cause was last seen, in which service, how many
-- sweeps of that service have not seen it since, and when the App said so on its issue.
ALTER TABLE tracked ADD COLUMN service TEXT;
ALTER TABLE tracked ADD COLUMN last_seen TEXT;
ALTER TABLE tracked ADD COLUMN quiet_sweeps BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tracked ADD COLUMN quiet_noted_at TEXT;
-- Rows from before: the last update is the last time they were known to be seen.
UPDATE tracked SET last_seen = COALESCE(last_comment_at, updated_at);
