-- 0005: a worker belongs to the name of the token that registered it.
--
-- Only that name (or an admin) may lease, heartbeat, report or presign for
-- the worker, so one worker token cannot speak for another machine's
-- worker. Workers registered before have no owner: any worker token may
-- speak for them until they register again.
ALTER TABLE workers ADD COLUMN owner TEXT NOT NULL DEFAULT '';
