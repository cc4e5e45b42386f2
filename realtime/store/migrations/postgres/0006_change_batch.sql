-- Changes to messages in batches: `SELECT * FROM rt_change_batch(...)` makes each item's
-- change in turn (rt_change, migration 0005) in one statement, so a batch costs one round
-- trip and one commit, like rt_append_batch. Items are applied in array order, each
-- seeing the ones before it (a reaction added then removed in one batch makes two
-- entries). The counter row, locked by the first item, is held to the commit.
CREATE FUNCTION rt_change_batch(
    p_thread text[],
    p_user text[],
    p_kind text[],
    p_target bigint[],
    p_body text[],
    p_meta jsonb[],
    p_replace_meta boolean[],
    p_emoji text[],
    p_on boolean[],
    p_ts bigint[]
)
RETURNS TABLE (idx integer, outcome smallint, seq bigint, pos bigint, t_sender text,
               t_body text, t_meta jsonb)
LANGUAGE plpgsql
AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_thread, 1), 0) LOOP
        RETURN QUERY
        SELECT i, c.outcome, c.seq, c.pos, c.t_sender, c.t_body, c.t_meta
        FROM rt_change(p_thread[i], p_user[i], p_kind[i], p_target[i], p_body[i], p_meta[i],
                       p_replace_meta[i], p_emoji[i], p_on[i], p_ts[i]) AS c;
    END LOOP;
END;
$$;
