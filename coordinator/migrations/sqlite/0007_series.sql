-- 0007: art series. A schedule may choose its content photos at each fire
-- from its owner's files (files/<owner>/<inputs_prefix>…), and each fire's
-- finished job is published as a run of the series: its outputs copied to
-- series/<name>/<folder>/ and the series' index page rewritten.

-- '' = the template's own photos.
ALTER TABLE schedules ADD COLUMN inputs_prefix TEXT NOT NULL DEFAULT '';
-- Only the newest N files; 0 = all (gallery), the newest (single).
ALTER TABLE schedules ADD COLUMN inputs_newest INTEGER NOT NULL DEFAULT 0;

-- When the fire's job was published as a run of the series (0 = not yet).
ALTER TABLE schedule_fires ADD COLUMN published_ms BIGINT NOT NULL DEFAULT 0;
-- The run's folder under series/<name>/ (set when published).
ALTER TABLE schedule_fires ADD COLUMN folder TEXT NOT NULL DEFAULT '';
-- The run's keys (JSON list, relative to the folder) and their sizes in bytes.
ALTER TABLE schedule_fires ADD COLUMN published_keys TEXT NOT NULL DEFAULT '[]';

CREATE INDEX schedule_fires_unpublished ON schedule_fires (recorded_ms)
    WHERE outcome = 'submitted' AND published_ms = 0;
