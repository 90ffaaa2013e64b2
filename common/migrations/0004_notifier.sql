-- 0004 notifier: a lease on claimed outbox rows, and the daily digest log.
--
-- The notifier claims pending rows (FOR UPDATE SKIP LOCKED), marks them
-- 'sending' with claimed_until = now + lease and commits, then talks SMTP
-- outside any transaction. A notifier killed mid-batch leaves its rows in
-- 'sending'; once claimed_until has passed any notifier takes them back, so
-- at most the rows of the batch in flight at the kill are sent twice.
SET LOCAL search_path = tawasul;

ALTER TABLE outbox ADD COLUMN claimed_until timestamptz;
-- Set by `tawasul outbox retry`: the give-up clock (notifier.give_up)
-- starts again from here instead of created_at.
ALTER TABLE outbox ADD COLUMN retried_at timestamptz;
CREATE INDEX outbox_sending_idx ON outbox (claimed_until) WHERE status = 'sending';
CREATE INDEX outbox_status_idx ON outbox (status, id);

-- One row per local day whose digest was queued: the primary key makes
-- "once a day" hold across restarts and several notifiers.
CREATE TABLE notifier_digests (
    day        date PRIMARY KEY,
    queued_at  timestamptz NOT NULL,
    rows       integer NOT NULL
);
