-- Core schema of the reference trading platform. One set of DDL and queries for SQLite and
-- PostgreSQL (through sqlx's Any driver): TEXT, BIGINT and BYTEA only (SQLite accepts BYTEA
-- as a type name and stores blobs unchanged), times as Unix seconds, ids made by the server.

CREATE TABLE companies (
    uscc TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A company account logs in with its unified social credit code; staff with a login name.
CREATE TABLE accounts (
    login TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    company_uscc TEXT REFERENCES companies (uscc),
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    bound_cert_fingerprint TEXT,
    bound_cert_pem TEXT,
    bound_at BIGINT,
    created_at BIGINT NOT NULL
);

-- Login sessions: the SHA-256 of the token is stored, never the token itself.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    login TEXT NOT NULL REFERENCES accounts (login),
    via TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_login ON sessions (login);

CREATE TABLE tenders (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    project_name TEXT NOT NULL,
    lot_id TEXT NOT NULL,
    lot_name TEXT NOT NULL,
    tenderer TEXT NOT NULL,
    bid_deadline BIGINT NOT NULL,
    opening_time BIGINT NOT NULL,
    published_at BIGINT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    package BYTEA NOT NULL,
    state TEXT NOT NULL
);

-- Integrity library (诚信库): record_json holds the exact bytes the platform signed.
CREATE TABLE records (
    id TEXT PRIMARY KEY,
    company_uscc TEXT NOT NULL REFERENCES companies (uscc),
    kind TEXT NOT NULL,
    version BIGINT NOT NULL,
    record_json TEXT NOT NULL,
    signature TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX records_company ON records (company_uscc);

-- Resumable uploads; the bytes live in DATA/uploads/<id>.part until completed.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    tender_id TEXT NOT NULL REFERENCES tenders (id),
    company_uscc TEXT NOT NULL REFERENCES companies (uscc),
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    received BIGINT NOT NULL,
    state TEXT NOT NULL,
    receipt_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX uploads_owner ON uploads (tender_id, company_uscc);

-- The current bid of a company for a tender (one row; replaced or withdrawn before the deadline).
CREATE TABLE bids (
    tender_id TEXT NOT NULL REFERENCES tenders (id),
    company_uscc TEXT NOT NULL REFERENCES companies (uscc),
    state TEXT NOT NULL,
    upload_id TEXT,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    receipt_id TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tender_id, company_uscc)
);

-- Every receipt the platform signed (submit, replace, withdraw), kept forever.
CREATE TABLE receipts (
    id TEXT PRIMARY KEY,
    tender_id TEXT NOT NULL REFERENCES tenders (id),
    company_uscc TEXT NOT NULL REFERENCES companies (uscc),
    sequence BIGINT NOT NULL,
    action TEXT NOT NULL,
    receipt_json TEXT NOT NULL,
    signature TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX receipts_sequence ON receipts (tender_id, company_uscc, sequence);
