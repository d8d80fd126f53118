-- hookwasm's PostgreSQL schema, version 2: leases in their own table, and an
-- endpoint's `concurrency` and `rate_limit_per_sec` held for the whole
-- cluster (see docs/postgres.md).

-- A claimed delivery's lease: which node holds it and until when. Unlogged:
-- a lease is worth seconds, and writing it to the WAL (and rewriting the
-- delivery's row and all its index entries, to claim it) was a third of
-- PostgreSQL's work per event. A crash or a failover of PostgreSQL
-- empties it, which makes the deliveries in flight claimable again: they
-- are delivered at least once, as after any lost lease.
CREATE UNLOGGED TABLE leases (
    delivery_id  bytea PRIMARY KEY,
    endpoint     text NOT NULL,
    node         text NOT NULL,
    until        bigint NOT NULL
);
CREATE INDEX leases_by_endpoint ON leases (endpoint, until);

ALTER TABLE deliveries DROP COLUMN claimed_by, DROP COLUMN claimed_until;

-- An endpoint's rate limit as GCRA: `tat` (ms since the epoch) is when the
-- cluster may send its next request. Unlogged too: lost, the schedule
-- starts again from now.
CREATE UNLOGGED TABLE endpoint_limits (
    endpoint  text PRIMARY KEY,
    tat       double precision NOT NULL
);

-- Claims up to `p_max` due deliveries of `p_endpoint` for `p_node` until
-- `p_until`, within the endpoint's cluster-wide limits: no more leases
-- live at once than `p_concurrency`, and requests at least `p_interval` ms
-- apart (NULL: no rate limit), each returned with the time it may be sent
-- (none later than `p_horizon` ms from now) and, when it has no stored
-- request yet, its event. When fewer than `p_max` are claimed, one last
-- row without a delivery says when to look again, if anything is pending.
--
-- Claims of one endpoint are serialised by an advisory lock (which the
-- cluster-wide limits need, and which leaves nothing for `SKIP LOCKED` to
-- skip); each statement below then reads a fresh snapshot (READ
-- COMMITTED, VOLATILE), so it sees the leases and the rate that the
-- previous claim committed, and the events of the deliveries it claims. The planner settings are
-- `finish`'s (below): every path here is an index lookup.
CREATE FUNCTION claim(
    p_endpoint text, p_now bigint, p_max integer, p_node text, p_until bigint,
    p_concurrency integer, p_interval double precision, p_horizon bigint)
RETURNS TABLE (delivery deliveries, event events, send_at bigint)
LANGUAGE plpgsql VOLATILE
SET search_path FROM CURRENT
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
DECLARE
    room integer := p_max;
    first_at double precision := p_now;
    retry_at bigint;
    taken integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('hookwasm claim ' || p_endpoint, 0));
    -- Leases that ran out: their node died (or lost PostgreSQL for longer
    -- than a lease); their deliveries are anyone's again.
    DELETE FROM leases WHERE endpoint = p_endpoint AND until <= p_now;
    room := least(room, p_concurrency - (
        SELECT count(*) FROM leases WHERE endpoint = p_endpoint)::integer);
    IF room <= 0 THEN
        -- Every slot is leased, on some node: look again shortly (a finish
        -- on another node sends no notification).
        retry_at := p_now + 100;
    END IF;
    IF p_interval IS NOT NULL THEN
        SELECT greatest(l.tat, p_now) INTO first_at FROM endpoint_limits l
            WHERE l.endpoint = p_endpoint;
        first_at := coalesce(first_at, p_now);
        IF first_at >= p_now + p_horizon THEN
            retry_at := greatest(retry_at, ceil(first_at - p_horizon)::bigint + 1);
        END IF;
        -- In double precision until bounded: an integer cast of an unbounded
        -- quotient could overflow.
        room := greatest(0, least(room::double precision,
                                  ceil((p_now + p_horizon - first_at) / p_interval)))::integer;
    END IF;
    IF room <= 0 THEN
        RETURN QUERY SELECT NULL::deliveries, NULL::events, retry_at;
        RETURN;
    END IF;
    RETURN QUERY
    WITH c AS (
        SELECT q.id FROM deliveries q
        WHERE q.endpoint = p_endpoint AND q.status = 'pending' AND q.next_attempt_at <= p_now
          AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.delivery_id = q.id)
          -- FIFO: only the first pending delivery of a key.
          AND (q.ordering_key IS NULL OR NOT EXISTS (
                SELECT 1 FROM deliveries o
                WHERE o.endpoint = q.endpoint AND o.ordering_key = q.ordering_key
                  AND o.status = 'pending' AND o.id < q.id))
        ORDER BY q.next_attempt_at, q.id
        LIMIT room),
    l AS (
        INSERT INTO leases (delivery_id, endpoint, node, until)
        SELECT c.id, p_endpoint, p_node, p_until FROM c
        RETURNING delivery_id)
    SELECT d, e,
           (first_at + (row_number() OVER (ORDER BY d.next_attempt_at, d.id) - 1)
            * coalesce(p_interval, 0))::bigint
    FROM l JOIN deliveries d ON d.id = l.delivery_id
    LEFT JOIN events e ON e.id = d.event_id AND d.request IS NULL;
    GET DIAGNOSTICS taken = ROW_COUNT;
    IF p_interval IS NOT NULL AND taken > 0 THEN
        INSERT INTO endpoint_limits (endpoint, tat) VALUES (p_endpoint, first_at + taken * p_interval)
        ON CONFLICT (endpoint) DO UPDATE SET tat = EXCLUDED.tat;
    END IF;
    IF taken < p_max THEN
        SELECT min(next_attempt_at) INTO retry_at FROM deliveries
        WHERE endpoint = p_endpoint AND status = 'pending' AND next_attempt_at > p_now;
        IF retry_at IS NOT NULL THEN
            RETURN QUERY SELECT NULL::deliveries, NULL::events, retry_at;
        END IF;
    END IF;
END
$$;

-- Finishes a batch of attempts in one statement: records each attempt (if
-- one was made) and moves its delivery on, releasing `p_node`'s lease; returns
-- the deliveries as they now are. A request is kept only if the delivery
-- is as the transform found it (`made_for`): an operator's replay
-- meanwhile wants the plugin to run again.
--
-- The planner settings: a plan cached while `deliveries` was nearly empty
-- (a new install, a benchmark) would otherwise hash-join a scan of the
-- whole table for every batch, long after it grew (seen: 15 ms a batch of
-- 14 at 20,000 rows); each row here is one primary-key lookup.
CREATE FUNCTION finish(
    p_ids bytea[], p_n integer[], p_attempts text[], p_now bigint[], p_requests text[],
    p_made_for bigint[], p_transformed_by text[], p_last_status integer[], p_status text[],
    p_next_at bigint[], p_reasons text[], p_node text)
RETURNS SETOF deliveries
LANGUAGE plpgsql VOLATILE
SET search_path FROM CURRENT
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    RETURN QUERY
    WITH j AS (
        SELECT * FROM unnest(p_ids, p_n, p_attempts, p_now, p_requests, p_made_for,
                             p_transformed_by, p_last_status, p_status, p_next_at, p_reasons)
            AS j(id, n, attempt, now, request, made_for, transformed_by, last_status,
                 status, next_at, reason)),
    a AS (
        INSERT INTO attempts (delivery_id, n, attempt)
        SELECT j.id, j.n, j.attempt::jsonb FROM j
        WHERE j.attempt IS NOT NULL AND EXISTS (SELECT 1 FROM deliveries x WHERE x.id = j.id)
        ON CONFLICT (delivery_id, n) DO UPDATE SET attempt = EXCLUDED.attempt),
    u AS (
        UPDATE deliveries d SET
            updated_at = j.now,
            request = CASE WHEN j.request IS NOT NULL AND d.updated_at = j.made_for
                           THEN j.request::jsonb ELSE d.request END,
            transformed_by = CASE WHEN j.request IS NOT NULL AND d.updated_at = j.made_for
                                  THEN j.transformed_by ELSE d.transformed_by END,
            attempts = CASE WHEN j.attempt IS NOT NULL THEN greatest(d.attempts, j.n)
                            ELSE d.attempts END,
            last_status = CASE WHEN j.attempt IS NOT NULL THEN j.last_status
                               ELSE d.last_status END,
            status = j.status, next_attempt_at = j.next_at, reason = j.reason
        FROM j WHERE d.id = j.id
        RETURNING d.*)
    SELECT * FROM u;
    DELETE FROM leases WHERE delivery_id = ANY(p_ids) AND node = p_node;
END
$$;

-- Work that one node at a time does for the cluster (`retention`): which
-- node has the turn, and until when.
CREATE TABLE turns (
    job    text PRIMARY KEY,
    node   text NOT NULL,
    until  bigint NOT NULL
);
