-- The foreign key from messages to threads was checked once per inserted row: about half
-- of the time of a large append batch. It guards nothing appends need: rt_append_batch
-- checks and locks each thread before inserting, and threads are never deleted. Whatever
-- deletes a thread one day must delete its messages itself (the key's ON DELETE CASCADE
-- goes with it).
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_thread_fkey;
