-- The push outbox becomes part of the store's schema, so that a message's commit records,
-- in the same transaction, that a push of it is owed (push_owed); the node later
-- discharges that record into device jobs (push_outbox), or into nothing when every
-- recipient was live. push_outbox may exist already: earlier releases created it on
-- first use, in this same database.

CREATE TABLE IF NOT EXISTS push_outbox (
    id bigserial PRIMARY KEY,
    key text,
    digest text NOT NULL,
    message text NOT NULL,
    enqueued_at double precision NOT NULL,
    due_at double precision,
    attempts integer NOT NULL DEFAULT 0,
    lease text,
    done_at double precision
);
CREATE INDEX IF NOT EXISTS push_outbox_due ON push_outbox (due_at) WHERE done_at IS NULL;
CREATE INDEX IF NOT EXISTS push_outbox_key ON push_outbox (key) WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS push_outbox_done ON push_outbox (done_at) WHERE done_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS push_owed (
    pos bigint PRIMARY KEY,
    thread text NOT NULL,
    seq bigint NOT NULL,
    ts bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS push_owed_by_ts ON push_owed (ts);
