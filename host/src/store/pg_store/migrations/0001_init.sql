-- hookwasm's PostgreSQL schema, version 1 (see docs/postgres.md).
-- Ids are 16-byte ULIDs: they sort by time, so "newest first" is an index
-- scan on the primary key. Times are milliseconds since the Unix epoch.

CREATE TABLE events (
    id           bytea PRIMARY KEY,
    source       text NOT NULL,
    webhook_id   text NOT NULL,
    event_type   text NOT NULL,
    received_at  bigint NOT NULL,
    headers      jsonb NOT NULL,
    payload      bytea NOT NULL
);
CREATE INDEX events_by_source ON events (source, id);
CREATE INDEX events_by_type ON events (event_type, id);

-- The sender's webhook id, for dedupe and lookup: the latest event stored
-- under it, and until when a repeat is a duplicate.
CREATE TABLE webhooks (
    source        text NOT NULL,
    webhook_id    text NOT NULL,
    event_id      bytea NOT NULL,
    received_at   bigint NOT NULL,
    dedupe_until  bigint NOT NULL,
    PRIMARY KEY (source, webhook_id)
);

CREATE TABLE deliveries (
    id               bytea PRIMARY KEY,
    event_id         bytea NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint         text NOT NULL,
    status           text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    schedule_from    integer NOT NULL DEFAULT 0,
    created_at       bigint NOT NULL,
    updated_at       bigint NOT NULL,
    next_attempt_at  bigint,
    reason           text,
    last_status      integer,
    transformed_by   text,
    -- The request the transform made (JSON, body in base64): retries
    -- resend these bytes.
    request          jsonb,
    -- The lease of a claim: which node holds it and until when.
    claimed_by       text,
    claimed_until    bigint,
    -- A FIFO endpoint's key: deliveries with the same one go out one at a
    -- time, in id order (NULL: not ordered).
    ordering_key     text,
    UNIQUE (event_id, endpoint)
);
-- The queue: an endpoint's pending deliveries by due time.
CREATE INDEX deliveries_queue ON deliveries (endpoint, next_attempt_at, id)
    WHERE status = 'pending';
-- FIFO: whether an earlier delivery of the same key is still pending.
CREATE INDEX deliveries_fifo ON deliveries (endpoint, ordering_key, id)
    WHERE status = 'pending' AND ordering_key IS NOT NULL;
CREATE INDEX deliveries_by_endpoint ON deliveries (endpoint, id);
CREATE INDEX deliveries_by_endpoint_status ON deliveries (endpoint, status, id);
CREATE INDEX deliveries_by_status ON deliveries (status, id);

CREATE TABLE attempts (
    delivery_id  bytea NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    n            integer NOT NULL,
    attempt      jsonb NOT NULL,
    PRIMARY KEY (delivery_id, n)
);

CREATE TABLE endpoint_states (
    endpoint  text PRIMARY KEY,
    state     jsonb NOT NULL
);

-- The catalog's records (sealed by the catalog: secrets are never here in
-- clear). Keys compare bytewise, as listings expect.
CREATE TABLE records (
    kind   text COLLATE "C" NOT NULL,
    key    text COLLATE "C" NOT NULL,
    value  bytea NOT NULL,
    PRIMARY KEY (kind, key)
);

CREATE TABLE audit (
    id     bytea PRIMARY KEY,
    entry  jsonb NOT NULL
);
