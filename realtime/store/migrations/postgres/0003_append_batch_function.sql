-- One group commit in one statement: `SELECT * FROM rt_append_batch(...)` stores a batch
-- of messages and returns one row per item, so a batch costs one round trip (the call,
-- committed with it when run outside an explicit transaction) instead of one per step.
--
-- The arrays are parallel, one element per item, in batch order. Idempotency keys
-- (thread, COALESCE(sender, ''), cid) must be distinct within a call: the caller folds
-- copies into their first item. Each returned row is (idx, outcome, seq, pos, body,
-- meta, ts), idx being the item's 1-based index:
--   outcome 0: stored now with this seq and pos (body, meta, ts NULL: the caller has them);
--   outcome 1: a duplicate of a stored message: its seq, pos, body, meta and ts;
--   outcome 2: the thread does not exist;  outcome 3: the sender is not a member.
--
-- The counter row of `positions` is locked first and held to the commit: this serializes
-- the batches of every node, so `pos` increases in commit order, and the duplicate check
-- and the seq allocation below cannot race another writer. Every statement of a PL/pgSQL
-- function takes a new snapshot under READ COMMITTED, so the statement after the lock
-- sees every batch committed before the lock was granted (a single SQL statement would
-- keep the snapshot it started with, miss those, and fail on the unique key instead).
-- Lock order: positions, then thread rows, as in every writer: no deadlock.
CREATE FUNCTION rt_append_batch(
    p_thread text[],
    p_sender text[],
    p_cid text[],
    p_body text[],
    p_meta jsonb[],
    p_ts bigint[]
)
RETURNS TABLE (idx integer, outcome smallint, seq bigint, pos bigint, body text, meta jsonb,
               ts bigint)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_last bigint;
BEGIN
    SELECT p.last INTO v_last FROM positions AS p FOR UPDATE;

    RETURN QUERY
    WITH judged AS (
        SELECT i.n::integer AS n, i.thread, i.sender, i.cid, i.body, i.meta, i.ts,
               CASE WHEN t.id IS NULL THEN 2
                    WHEN i.sender IS NOT NULL AND mb.user_id IS NULL THEN 3
                    ELSE 0 END AS verdict,
               t.last_seq,
               o.seq AS o_seq, o.pos AS o_pos, o.body AS o_body, o.meta AS o_meta,
               o.ts AS o_ts
        FROM unnest(p_thread, p_sender, p_cid, p_body, p_meta, p_ts)
             WITH ORDINALITY AS i(thread, sender, cid, body, meta, ts, n)
        LEFT JOIN threads AS t ON t.id = i.thread
        LEFT JOIN members AS mb ON mb.thread = i.thread AND mb.user_id = i.sender
        -- COALESCE(sender, '') is the expression of the unique index messages_by_cid.
        LEFT JOIN messages AS o
          ON o.thread = i.thread AND COALESCE(o.sender, '') = COALESCE(i.sender, '')
         AND o.cid = i.cid
    ),
    placed AS (
        -- pos follows batch order; seq follows it within a thread, so seq order is pos
        -- order in every thread. Reading last_seq here is safe: only a writer holding
        -- the counter lock changes it, and this one holds it. (The window functions
        -- spare the joins between CTEs, which the planner would run as nested loops.)
        SELECT j.*, fr.fresh,
               v_last + count(*) FILTER (WHERE fr.fresh) OVER (ORDER BY j.n) AS new_pos,
               j.last_seq + row_number() OVER (PARTITION BY fr.fresh, j.thread ORDER BY j.n)
                   AS new_seq
        FROM judged AS j, LATERAL (SELECT j.verdict = 0 AND j.o_seq IS NULL AS fresh) AS fr
    ),
    allocated AS (
        UPDATE threads AS t
        SET last_seq = t.last_seq + pt.added, last_pos = pt.newest
        FROM (
            SELECT pl.thread, count(*) AS added, max(pl.new_pos) AS newest
            FROM placed AS pl
            WHERE pl.fresh
            GROUP BY pl.thread
        ) AS pt
        WHERE t.id = pt.thread
    ),
    inserted AS (
        INSERT INTO messages AS m (thread, seq, pos, sender, cid, body, meta, ts)
        SELECT pl.thread, pl.new_seq, pl.new_pos, pl.sender, pl.cid, pl.body, pl.meta, pl.ts
        FROM placed AS pl
        WHERE pl.fresh
    ),
    -- The counter advances by exactly the messages stored: it stays the store's head.
    advanced AS (
        UPDATE positions AS p
        SET last = (SELECT max(pl.new_pos) FROM placed AS pl WHERE pl.fresh)
        WHERE EXISTS (SELECT 1 FROM placed AS pl WHERE pl.fresh)
    )
    SELECT pl.n,
           CASE WHEN pl.verdict <> 0 THEN pl.verdict
                WHEN pl.o_seq IS NOT NULL THEN 1
                ELSE 0 END::smallint,
           CASE WHEN pl.fresh THEN pl.new_seq ELSE pl.o_seq END,
           CASE WHEN pl.fresh THEN pl.new_pos ELSE pl.o_pos END,
           pl.o_body, pl.o_meta, pl.o_ts
    FROM placed AS pl
    ORDER BY pl.n;
END;
$$;
