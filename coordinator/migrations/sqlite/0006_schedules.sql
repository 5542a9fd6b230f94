-- 0006: schedules (art series) and every fire time they reached.
--
-- A fire time is handled exactly once: `schedule_fires` has one row per
-- (schedule, fire time), inserted in the transaction that moves the
-- schedule's `next_fire_ms` past it, and the job of a fire has an id derived
-- from the pair, so a coordinator that dies between recording a fire and
-- submitting its job submits the same job again on start, never a second.

CREATE TABLE schedules (
    name                TEXT    PRIMARY KEY,
    -- Token name that made it; its jobs are submitted as this owner.
    owner               TEXT    NOT NULL,
    cron                TEXT    NOT NULL,
    time_zone           TEXT    NOT NULL,
    -- The job template (JobSpec, protobuf encoding), checked at creation.
    template            BLOB    NOT NULL,
    -- skip | buffer-one | allow | cancel-previous
    overlap             TEXT    NOT NULL,
    catch_up_ms         BIGINT  NOT NULL,
    seed_from_fire_time BOOLEAN NOT NULL,
    paused              BOOLEAN NOT NULL DEFAULT FALSE,
    created_ms          BIGINT  NOT NULL,
    -- The earliest fire time not yet handled.
    next_fire_ms        BIGINT  NOT NULL,
    -- buffer-one: the fire waiting for the running job (0 = none).
    buffered_fire_ms    BIGINT  NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE INDEX schedules_due ON schedules (next_fire_ms) WHERE NOT paused;

CREATE TABLE schedule_fires (
    name        TEXT    NOT NULL REFERENCES schedules (name) ON DELETE CASCADE,
    fire_ms     BIGINT  NOT NULL,
    -- pending (job not yet stored) | submitted | skipped | buffered | missed | failed
    outcome     TEXT    NOT NULL,
    -- Set when outcome is pending or submitted (and kept for buffered).
    job_id      TEXT    NOT NULL DEFAULT '',
    error       TEXT    NOT NULL DEFAULT '',
    manual      BOOLEAN NOT NULL DEFAULT FALSE,
    recorded_ms BIGINT  NOT NULL,
    PRIMARY KEY (name, fire_ms)
) WITHOUT ROWID;

CREATE INDEX schedule_fires_pending ON schedule_fires (recorded_ms) WHERE outcome = 'pending';
