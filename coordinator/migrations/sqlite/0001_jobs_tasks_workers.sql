-- 0001: the farm's whole state: jobs, their task graph, lease attempts and
-- workers. A restarted coordinator rebuilds everything from these tables.
--
-- Conventions (kept so that a PostgreSQL twin of this schema reads the same
-- rows through the same queries):
--   * timestamps are unix milliseconds in BIGINT columns, 0 = not yet;
--   * enumerations are lower-case TEXT ('queued', 'leased', ...);
--   * list values are JSON arrays in TEXT columns;
--   * `seq INTEGER PRIMARY KEY` is SQLite's rowid; PostgreSQL would use
--     BIGINT GENERATED ALWAYS AS IDENTITY;
--   * WITHOUT ROWID (SQLite only) stores a table as its primary key's b-tree,
--     saving a write per row; PostgreSQL needs nothing in its place.

CREATE TABLE jobs (
    -- Submission order: the lease tie-break after priority.
    seq          INTEGER PRIMARY KEY,
    job_id       TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    priority     INTEGER NOT NULL,
    -- The JobSpec exactly as submitted (protobuf encoding): workers get it
    -- back verbatim with every task.
    spec         BLOB    NOT NULL,
    -- queued | running | succeeded | failed | cancelled
    state        TEXT    NOT NULL,
    error        TEXT    NOT NULL DEFAULT '',
    -- Counters kept in step with the tasks so that "is the job done?" and
    -- progress events never scan a large job's tasks.
    tasks_total  INTEGER NOT NULL,
    tasks_done   INTEGER NOT NULL DEFAULT 0,
    created_ms   BIGINT  NOT NULL,
    finished_ms  BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE tasks (
    -- Insertion order. A job's tasks are inserted together at submission, in
    -- plan order, so ordering by seq is "job submission order, then task
    -- order", which is the claim order after priority.
    seq              INTEGER PRIMARY KEY,
    task_id          TEXT    NOT NULL UNIQUE,
    job_id           TEXT    NOT NULL REFERENCES jobs (job_id),
    -- Position in the job's plan.
    ordinal          INTEGER NOT NULL,
    -- stylize | targets | assemble | ...
    kind             TEXT    NOT NULL,
    -- A copy of the job's priority so that one index serves the claim.
    priority         INTEGER NOT NULL,
    -- The outputs of final tasks are the job's outputs.
    is_final         BOOLEAN NOT NULL,
    -- blocked | ready | leased | succeeded | failed | cancelled
    state            TEXT    NOT NULL,
    -- Dependencies not yet succeeded; the task becomes ready at 0.
    deps_pending     INTEGER NOT NULL,
    -- Fencing epoch: incremented by every lease, echoed by the worker.
    attempt          INTEGER NOT NULL DEFAULT 0,
    -- Failed attempts (a release is not a failure).
    failures         INTEGER NOT NULL DEFAULT 0,
    worker_id        TEXT,
    -- A ready task is not leased before this time (retry backoff).
    ready_at_ms      BIGINT  NOT NULL DEFAULT 0,
    lease_expires_ms BIGINT  NOT NULL DEFAULT 0,
    output_keys      TEXT    NOT NULL DEFAULT '[]',
    error            TEXT    NOT NULL DEFAULT '',
    UNIQUE (job_id, ordinal)
);

-- Partial indexes: only the few ready or leased tasks are in them, however
-- many finished tasks the table holds, so each state change touches a small
-- index (both SQLite and PostgreSQL have partial indexes).
-- The claim: best ready task by priority, then submission/task order.
CREATE INDEX tasks_ready ON tasks (priority DESC, seq) WHERE state = 'ready';
-- Expired leases, the earliest expiry, and each worker's current tasks.
CREATE INDEX tasks_leased ON tasks (lease_expires_ms) WHERE state = 'leased';

-- The DAG: `task_id` waits for `depends_on` to succeed.
CREATE TABLE task_dependencies (
    task_id    TEXT NOT NULL REFERENCES tasks (task_id),
    depends_on TEXT NOT NULL REFERENCES tasks (task_id),
    PRIMARY KEY (task_id, depends_on)
) WITHOUT ROWID;
CREATE INDEX task_dependents ON task_dependencies (depends_on);

-- One row per lease of a task: who ran it, when, and how it ended.
CREATE TABLE attempts (
    task_id    TEXT    NOT NULL REFERENCES tasks (task_id),
    attempt    INTEGER NOT NULL,
    worker_id  TEXT    NOT NULL,
    started_ms BIGINT  NOT NULL,
    ended_ms   BIGINT  NOT NULL DEFAULT 0,
    -- running | succeeded | failed | expired | released | cancelled
    outcome    TEXT    NOT NULL DEFAULT 'running',
    error      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (task_id, attempt)
) WITHOUT ROWID; -- SQLite: the table is its key's b-tree, one write per row

CREATE TABLE workers (
    worker_id      TEXT    PRIMARY KEY,
    name           TEXT    NOT NULL,
    device         TEXT    NOT NULL,
    memory_bytes   BIGINT  NOT NULL,
    slots          INTEGER NOT NULL,
    engine_version TEXT    NOT NULL,
    registered_ms  BIGINT  NOT NULL,
    last_seen_ms   BIGINT  NOT NULL
);

-- How often each worker failed each job: a worker that keeps failing one job
-- (bad GPU memory, a driver bug) is kept away from it.
CREATE TABLE worker_job_failures (
    worker_id TEXT    NOT NULL REFERENCES workers (worker_id),
    job_id    TEXT    NOT NULL REFERENCES jobs (job_id),
    failures  INTEGER NOT NULL,
    PRIMARY KEY (worker_id, job_id)
) WITHOUT ROWID;
