-- The opening reading (唱标) the platform signs when a remote opening ends, published once; and
-- a version per company that grows with every change of its records, named in the signed
-- record list (docs/platform.md, "Signed record list").

CREATE TABLE opening_reports (
    tender_id TEXT PRIMARY KEY,
    report_json TEXT NOT NULL,
    signature TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

ALTER TABLE companies ADD COLUMN library_version BIGINT NOT NULL DEFAULT 0;
