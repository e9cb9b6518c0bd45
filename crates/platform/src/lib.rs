//! The reference trading platform: publishes tenders, serves the integrity library (诚信库)
//! signed by the platform, accepts bid uploads with a signed receipt, and runs the opening.
//!
//! - [`server`]: `bidseal platform serve` — configuration, start, shutdown;
//! - [`state`]: [`AppState`], shared by the REST API ([`api`], under `/api/v1`) and the web
//!   pages ([`web`]);
//! - [`db`]: the database (SQLite bundled, or PostgreSQL) with migrations;
//! - [`auth`]: accounts, password login, sessions, the [`auth::CompanyAuth`] /
//!   [`auth::StaffAuth`] extractors;
//! - [`identity`]: the platform's signing key and certificate;
//! - [`tenders`], [`records`], [`bids`]: publishing, the integrity library, uploads and
//!   receipts; [`bid_files`]: staff download of bid files after the deadline;
//! - [`demo`]: `--demo-world`, seeding from a `bidseal phone init` world;
//! - [`scan`]: 扫码登录 / 扫码绑定 — the platform as the initiator of `auth` scans;
//! - [`remote_opening`]: 不见面开标 — decrypt requests pushed to the bidders' phones.
//!
//! Guarantees: everything the platform states to a bidder (tender, record, receipt) is signed
//! by its certificate over exact bytes. Does not: hold any bidder key.

pub mod api;
pub mod auth;
pub mod bid_files;
pub mod bids;

pub mod clock;
pub mod db;
pub mod demo;
pub mod error;
pub mod identity;
pub mod records;
pub mod remote_opening;
pub mod scan;
pub mod server;
pub mod state;
pub mod tenders;
pub mod web;

pub use error::{ApiError, PlatformError};
pub use server::{serve, PlatformConfig, RunningPlatform};
pub use state::AppState;
