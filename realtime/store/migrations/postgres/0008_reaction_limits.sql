-- Reactions are bounded, so that one member cannot make a message's folded state (and
-- every history page holding it) as large as they like: at most 10 emoji per user per
-- message, and at most 50 distinct emoji per message. A reaction past either is refused
-- with the new outcome 6 and makes no entry. The function is otherwise migration 0005's.

CREATE OR REPLACE FUNCTION rt_change(
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
        IF p_on AND (
            (SELECT count(*) FROM reactions AS r WHERE r.thread = p_thread
              AND r.seq = p_target AND r.user_id = p_user) >= 10
            OR (NOT EXISTS (SELECT 1 FROM reactions AS r WHERE r.thread = p_thread
                            AND r.seq = p_target AND r.emoji = p_emoji)
                AND (SELECT count(DISTINCT r.emoji) FROM reactions AS r
                     WHERE r.thread = p_thread AND r.seq = p_target) >= 50)
        ) THEN
            RETURN QUERY SELECT 6::smallint, NULL::bigint, NULL::bigint, v_msg.sender,
                                NULL::text, NULL::jsonb;
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
