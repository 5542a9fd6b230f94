-- 0003: the largest picture each worker renders in one piece (0 = unknown),
-- so that the coordinator can split bigger single jobs into tiles.
ALTER TABLE workers ADD COLUMN max_untiled_pixels INTEGER NOT NULL DEFAULT 0;
