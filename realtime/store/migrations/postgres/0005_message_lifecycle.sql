-- The life of a message: edits, unsends and reactions are entries of the thread's log.
--
-- An entry is a row of `messages` like a message, with the thread's next seq and the
-- next pos, so a cursor replays it; `kind` tells it apart (NULL: a message). A message
-- row also holds its current state (body and meta as last edited, `edited`, `deleted`),
-- and `reactions` holds who reacts with what, so a page of history is read folded in
-- the same two queries however many changes its messages had.

ALTER TABLE messages
    ADD COLUMN kind text CHECK (kind IS NULL OR kind IN ('edit', 'unsend', 'react')),
    ADD COLUMN target bigint,
    ADD COLUMN reply_to bigint,
    ADD COLUMN attachments jsonb,
    ADD COLUMN edited bigint,
    ADD COLUMN deleted boolean NOT NULL DEFAULT false,
    ADD COLUMN emoji text,
    ADD COLUMN react_on boolean;

CREATE INDEX messages_only ON messages (thread, seq) WHERE kind IS NULL;
CREATE INDEX messages_by_target ON messages (thread, target) WHERE target IS NOT NULL;

CREATE TABLE reactions (
    thread  text NOT NULL,
    seq     bigint NOT NULL,
    emoji   text NOT NULL,
    user_id text NOT NULL,
    at      bigint NOT NULL,
    PRIMARY KEY (thread, seq, emoji, user_id)
);

-- rt_append_batch with each message's reply_to and attachments. A new overload: nodes
-- of the previous release keep calling the six-array one during a rolling upgrade.
CREATE FUNCTION rt_append_batch(
    p_thread text[],
    p_sender text[],
    p_cid text[],
    p_body text[],
    p_meta jsonb[],
    p_ts bigint[],
    p_reply_to bigint[],
    p_attachments jsonb[]
)
RETURNS TABLE (idx integer, outcome smallint, seq bigint, pos bigint, body text, meta jsonb,
               ts bigint, reply_to bigint, attachments jsonb, edited bigint, deleted boolean)
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
               i.reply_to, i.attachments,
               CASE WHEN t.id IS NULL THEN 2
                    WHEN i.sender IS NOT NULL AND mb.user_id IS NULL THEN 3
                    ELSE 0 END AS verdict,
               t.last_seq,
               o.seq AS o_seq, o.pos AS o_pos, o.body AS o_body, o.meta AS o_meta,
               o.ts AS o_ts, o.reply_to AS o_reply_to, o.attachments AS o_attachments,
               o.edited AS o_edited, o.deleted AS o_deleted
        FROM unnest(p_thread, p_sender, p_cid, p_body, p_meta, p_ts, p_reply_to,
                    p_attachments)
             WITH ORDINALITY AS i(thread, sender, cid, body, meta, ts, reply_to,
                                  attachments, n)
        LEFT JOIN threads AS t ON t.id = i.thread
        LEFT JOIN members AS mb ON mb.thread = i.thread AND mb.user_id = i.sender
        LEFT JOIN messages AS o
          ON o.thread = i.thread AND COALESCE(o.sender, '') = COALESCE(i.sender, '')
         AND o.cid = i.cid
    ),
    placed AS (
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
        INSERT INTO messages AS m (thread, seq, pos, sender, cid, body, meta, ts, reply_to,
                                   attachments)
        SELECT pl.thread, pl.new_seq, pl.new_pos, pl.sender, pl.cid, pl.body, pl.meta, pl.ts,
               pl.reply_to, pl.attachments
        FROM placed AS pl
        WHERE pl.fresh
    ),
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
           pl.o_body, pl.o_meta, pl.o_ts, pl.o_reply_to, pl.o_attachments, pl.o_edited,
           pl.o_deleted
    FROM placed AS pl
    ORDER BY pl.n;
END;
$$;

-- One change (edit, unsend, react) as one statement that commits on its own: it takes
-- the thread's next seq and the store's next pos under the same locks, in the same order
-- (positions, then the thread row), as rt_append_batch.
--
-- Outcomes: 0 made (seq, pos of the new entry); 1 nothing to change (seq: the entry
-- that made the current state, or NULL); 2 no thread; 3 not a member; 4 no such message
-- (or unsent); 5 not the sender. Always returns the target's sender, body, meta.
CREATE FUNCTION rt_change(
    p_thread text,
    p_user text,
    p_kind text,
    p_target bigint,
    p_body text,
    p_meta jsonb,
    p_replace_meta boolean,
    p_emoji text,
    p_on boolean,
    p_ts bigint
)
RETURNS TABLE (outcome smallint, seq bigint, pos bigint, t_sender text, t_body text,
               t_meta jsonb)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    v_pos bigint;
    v_seq bigint;
    v_msg messages%ROWTYPE;
    v_meta jsonb;
    v_has boolean;
    v_prior bigint;
BEGIN
    SELECT p.last INTO v_pos FROM positions AS p FOR UPDATE;
    SELECT t.last_seq INTO v_seq FROM threads AS t WHERE t.id = p_thread FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 2::smallint, NULL::bigint, NULL::bigint, NULL::text, NULL::text,
                            NULL::jsonb;
        RETURN;
    END IF;
    IF p_user IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM members AS mb WHERE mb.thread = p_thread AND mb.user_id = p_user
    ) THEN
        RETURN QUERY SELECT 3::smallint, NULL::bigint, NULL::bigint, NULL::text, NULL::text,
                            NULL::jsonb;
        RETURN;
    END IF;
    SELECT * INTO v_msg FROM messages AS m
    WHERE m.thread = p_thread AND m.seq = p_target AND m.kind IS NULL AND NOT m.deleted;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 4::smallint, NULL::bigint, NULL::bigint, NULL::text, NULL::text,
                            NULL::jsonb;
        RETURN;
    END IF;
    IF p_kind <> 'react' AND p_user IS NOT NULL
       AND p_user IS DISTINCT FROM v_msg.sender THEN
        RETURN QUERY SELECT 5::smallint, NULL::bigint, NULL::bigint, v_msg.sender,
                            NULL::text, NULL::jsonb;
        RETURN;
    END IF;

    IF p_kind = 'edit' THEN
        v_meta := CASE WHEN p_replace_meta THEN p_meta ELSE v_msg.meta END;
        IF v_msg.body = p_body AND v_msg.meta IS NOT DISTINCT FROM v_meta THEN
            -- Already so: a retry of the last edit gets that edit's entry back.
            SELECT max(m.seq) INTO v_prior FROM messages AS m
            WHERE m.thread = p_thread AND m.target = p_target AND m.kind = 'edit';
            RETURN QUERY SELECT 1::smallint, v_prior, NULL::bigint, v_msg.sender,
                                v_msg.body, v_msg.meta;
            RETURN;
        END IF;
        UPDATE messages AS m SET body = p_body, meta = v_meta, edited = p_ts
        WHERE m.thread = p_thread AND m.seq = p_target;
        INSERT INTO messages (thread, seq, pos, sender, body, meta, ts, kind, target)
        VALUES (p_thread, v_seq + 1, v_pos + 1, p_user, p_body, v_meta, p_ts, 'edit',
                p_target);
    ELSIF p_kind = 'unsend' THEN
        -- The erase: the message's content, the content of its edits, its reactions.
        UPDATE messages AS m SET body = '', meta = NULL, attachments = NULL, deleted = true
        WHERE m.thread = p_thread AND m.seq = p_target;
        UPDATE messages AS m SET body = '', meta = NULL
        WHERE m.thread = p_thread AND m.target = p_target AND m.kind = 'edit';
        DELETE FROM reactions AS r WHERE r.thread = p_thread AND r.seq = p_target;
        INSERT INTO messages (thread, seq, pos, sender, body, ts, kind, target)
        VALUES (p_thread, v_seq + 1, v_pos + 1, p_user, '', p_ts, 'unsend', p_target);
        v_meta := NULL;
    ELSE
        v_has := EXISTS (SELECT 1 FROM reactions AS r WHERE r.thread = p_thread
                         AND r.seq = p_target AND r.emoji = p_emoji AND r.user_id = p_user);
        IF v_has = p_on THEN
            RETURN QUERY SELECT 1::smallint, NULL::bigint, NULL::bigint, v_msg.sender,
                                v_msg.body, v_msg.meta;
            RETURN;
        END IF;
        IF p_on THEN
            INSERT INTO reactions (thread, seq, emoji, user_id, at)
            VALUES (p_thread, p_target, p_emoji, p_user, v_seq + 1);
        ELSE
            DELETE FROM reactions AS r WHERE r.thread = p_thread AND r.seq = p_target
              AND r.emoji = p_emoji AND r.user_id = p_user;
        END IF;
        INSERT INTO messages (thread, seq, pos, sender, body, ts, kind, target, emoji,
                              react_on)
        VALUES (p_thread, v_seq + 1, v_pos + 1, p_user, '', p_ts, 'react', p_target,
                p_emoji, p_on);
        v_meta := v_msg.meta;
    END IF;
    UPDATE threads AS t SET last_seq = v_seq + 1 WHERE t.id = p_thread;
    UPDATE positions AS p SET last = v_pos + 1;
    RETURN QUERY SELECT 0::smallint, v_seq + 1, v_pos + 1, v_msg.sender,
                        CASE WHEN p_kind = 'edit' THEN p_body
                             WHEN p_kind = 'unsend' THEN '' ELSE v_msg.body END,
                        v_meta;
END;
$$;
