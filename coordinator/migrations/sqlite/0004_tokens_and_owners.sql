-- 0004: bearer tokens and job owners.
--
-- A token is stored only as the SHA-256 of its secret (hex): a stolen
-- database gives no usable token. `token_id` (the hash's first 12 hex
-- digits) is the public handle that `token list` shows and `token revoke`
-- takes. `name` is the principal: a client's jobs belong to its token's
-- name, so a rotated token (same name, new secret) keeps the jobs.
CREATE TABLE tokens (
    token_hash  TEXT    PRIMARY KEY,
    token_id    TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    -- client | worker | admin
    role        TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL,
    expires_ms  BIGINT  NOT NULL DEFAULT 0,
    revoked_ms  BIGINT  NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Jobs submitted before tokens existed have no owner: only admins see them.
ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_by_owner ON jobs (owner, seq);
