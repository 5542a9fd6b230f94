-- 0001: the farm's whole state on PostgreSQL: the schema SQLite reaches
-- after its migrations 0001..0007 (migrations/sqlite, whose comments say
-- what each column means), in PostgreSQL's types. Later changes get a
-- numbered migration in both folders.
--
-- Integers the coordinator reads as i64 are BIGINT (PostgreSQL's INTEGER
-- is 32 bits); `priority` is INTEGER, as the coordinator reads it as i32.
-- Listings ordered by name (schedules, tokens) follow the database's
-- collation; SQLite's compares bytes (create the database with
-- LC_COLLATE 'C' for the same order).

CREATE TABLE jobs (
    seq          BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id       TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    priority     INTEGER NOT NULL,
    spec         BYTEA   NOT NULL,
    state        TEXT    NOT NULL,
    error        TEXT    NOT NULL DEFAULT '',
    tasks_total  BIGINT  NOT NULL,
    tasks_done   BIGINT  NOT NULL DEFAULT 0,
    created_ms   BIGINT  NOT NULL,
    finished_ms  BIGINT  NOT NULL DEFAULT 0,
    owner        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX jobs_by_owner ON jobs (owner, seq);

CREATE TABLE tasks (
    seq              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id          TEXT    NOT NULL UNIQUE,
    job_id           TEXT    NOT NULL REFERENCES jobs (job_id),
    ordinal          BIGINT  NOT NULL,
    kind             TEXT    NOT NULL,
    priority         INTEGER NOT NULL,
    is_final         BOOLEAN NOT NULL,
    state            TEXT    NOT NULL,
    deps_pending     BIGINT  NOT NULL,
    attempt          BIGINT  NOT NULL DEFAULT 0,
    failures         BIGINT  NOT NULL DEFAULT 0,
    worker_id        TEXT,
    ready_at_ms      BIGINT  NOT NULL DEFAULT 0,
    lease_expires_ms BIGINT  NOT NULL DEFAULT 0,
    output_keys      TEXT    NOT NULL DEFAULT '[]',
    error            TEXT    NOT NULL DEFAULT '',
    params           BYTEA   NOT NULL DEFAULT '\x',
    UNIQUE (job_id, ordinal)
);
CREATE INDEX tasks_ready ON tasks (priority DESC, seq) WHERE state = 'ready';
CREATE INDEX tasks_leased ON tasks (lease_expires_ms) WHERE state = 'leased';

CREATE TABLE task_dependencies (
    task_id    TEXT NOT NULL REFERENCES tasks (task_id),
    depends_on TEXT NOT NULL REFERENCES tasks (task_id),
    PRIMARY KEY (task_id, depends_on)
);
CREATE INDEX task_dependents ON task_dependencies (depends_on);

CREATE TABLE attempts (
    task_id    TEXT    NOT NULL REFERENCES tasks (task_id),
    attempt    BIGINT  NOT NULL,
    worker_id  TEXT    NOT NULL,
    started_ms BIGINT  NOT NULL,
    ended_ms   BIGINT  NOT NULL DEFAULT 0,
    outcome    TEXT    NOT NULL DEFAULT 'running',
    error      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (task_id, attempt)
);

CREATE TABLE workers (
    worker_id          TEXT    PRIMARY KEY,
    name               TEXT    NOT NULL,
    device             TEXT    NOT NULL,
    memory_bytes       BIGINT  NOT NULL,
    slots              BIGINT  NOT NULL,
    engine_version     TEXT    NOT NULL,
    registered_ms      BIGINT  NOT NULL,
    last_seen_ms       BIGINT  NOT NULL,
    max_untiled_pixels BIGINT  NOT NULL DEFAULT 0,
    owner              TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE worker_job_failures (
    worker_id TEXT    NOT NULL REFERENCES workers (worker_id),
    job_id    TEXT    NOT NULL REFERENCES jobs (job_id),
    failures  BIGINT  NOT NULL,
    PRIMARY KEY (worker_id, job_id)
);

CREATE TABLE tokens (
    token_hash  TEXT    PRIMARY KEY,
    token_id    TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL,
    expires_ms  BIGINT  NOT NULL DEFAULT 0,
    revoked_ms  BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE schedules (
    name                TEXT    PRIMARY KEY,
    owner               TEXT    NOT NULL,
    cron                TEXT    NOT NULL,
    time_zone           TEXT    NOT NULL,
    template            BYTEA   NOT NULL,
    overlap             TEXT    NOT NULL,
    catch_up_ms         BIGINT  NOT NULL,
    seed_from_fire_time BOOLEAN NOT NULL,
    paused              BOOLEAN NOT NULL DEFAULT FALSE,
    created_ms          BIGINT  NOT NULL,
    next_fire_ms        BIGINT  NOT NULL,
    buffered_fire_ms    BIGINT  NOT NULL DEFAULT 0,
    inputs_prefix       TEXT    NOT NULL DEFAULT '',
    inputs_newest       BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX schedules_due ON schedules (next_fire_ms) WHERE NOT paused;

CREATE TABLE schedule_fires (
    name           TEXT    NOT NULL REFERENCES schedules (name) ON DELETE CASCADE,
    fire_ms        BIGINT  NOT NULL,
    outcome        TEXT    NOT NULL,
    job_id         TEXT    NOT NULL DEFAULT '',
    error          TEXT    NOT NULL DEFAULT '',
    manual         BOOLEAN NOT NULL DEFAULT FALSE,
    recorded_ms    BIGINT  NOT NULL,
    published_ms   BIGINT  NOT NULL DEFAULT 0,
    folder         TEXT    NOT NULL DEFAULT '',
    published_keys TEXT    NOT NULL DEFAULT '[]',
    PRIMARY KEY (name, fire_ms)
);
CREATE INDEX schedule_fires_pending ON schedule_fires (recorded_ms) WHERE outcome = 'pending';
CREATE INDEX schedule_fires_unpublished ON schedule_fires (recorded_ms)
    WHERE outcome = 'submitted' AND published_ms = 0;
