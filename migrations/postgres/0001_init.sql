-- log-gardener's state (PostgreSQL). Times are RFC 3339 UTC text with microseconds, so that
-- text order is time order.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    dedup_key TEXT UNIQUE,
    status TEXT NOT NULL DEFAULT 'queued',
    attempts BIGINT NOT NULL DEFAULT 0,
    run_after TEXT NOT NULL,
    lease_until TEXT,
    worker TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX jobs_ready ON jobs (status, run_after);
CREATE TABLE installations (
    repo TEXT PRIMARY KEY,
    installation_id BIGINT NOT NULL,
    added_at TEXT NOT NULL
);
CREATE TABLE cursors (
    repo TEXT NOT NULL,
    service TEXT NOT NULL,
    swept_until TEXT NOT NULL,
    PRIMARY KEY (repo, service)
);
CREATE TABLE tracked (
    repo TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    issue BIGINT,
    title TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'open',
    priority TEXT,
    muted_until TEXT,
    merged_into BIGINT,
    last_comment_at TEXT,
    last_count BIGINT NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (repo, fingerprint)
);
CREATE TABLE sweeps (
    id BIGSERIAL PRIMARY KEY,
    repo TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end TEXT NOT NULL,
    outcome TEXT NOT NULL,
    summary TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
CREATE TABLE locks (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until TEXT NOT NULL
);
