-- What used to live only in the running process: scans in progress (扫码登录/绑定), the push
-- mailbox of remote openings and the opening board (开标大厅). Stored so that a restart during
-- an opening loses nothing (docs/platform-remote-opening.md, "Restart").

-- One scan the platform started at the relay. status_json is the ScanStatus without the token
-- (a bearer token is never stored in clear; a login finished but not yet handed out before a
-- restart is reported as interrupted).
CREATE TABLE scans (
    id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    owner TEXT,
    state TEXT NOT NULL,
    status_json TEXT NOT NULL,
    qr_svg TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Decrypt requests waiting for a company's phone in standby; delivered_at is set once, in the
-- same statement that hands the request out (delivered once, also across restarts).
CREATE TABLE push_requests (
    id TEXT PRIMARY KEY,
    company_uscc TEXT NOT NULL,
    tender_id TEXT NOT NULL,
    bid TEXT NOT NULL,
    request_json TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX push_requests_company ON push_requests (company_uscc, delivered_at);

-- The board of each remote opening; version only grows (a late write of an older board is
-- ignored).
CREATE TABLE openings (
    tender_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    finished BIGINT NOT NULL,
    board_json TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
