//! The flows of BidSeal (authenticate, seal, generate, decrypt, open) as async functions used
//! by both the command line and the desktop app, so that the two can never disagree.
//!
//! - [`scan_session`]: one scan (QR → phone → requests), session mode;
//! - [`phone_adapters`]: the phone as a `bidseal_cms` `Signer` and `KeyAgreement`;
//! - [`auth`]: 扫码认证 with the tender's CA and bidder checks;
//! - [`generate`]: 生成标书 and 试解密;
//! - [`seal`]: 标书签章 by scan in session mode;
//! - [`hall`]: 开标 by scan;
//! - [`opening_hall`]: the hall session of the desktop window (rows, reading table, report PDF);
//! - [`project_flow`]: a bid project sealed, generated and tried by scan;
//! - [`relay`]: the embedded relay, or the one the user named (address checked);
//! - [`history`]: a project's scan history in the local index;
//! - [`qr_files`]: QR images, one folder per run, numbered names;
//! - [`report`]: the opening report (table, JSON, PDF) and Beijing time;
//! - [`trust`]: the CA roots a PDF signature is checked against, and where they came from;
//! - [`platform_client`], [`library_sync`], [`bid_upload`]: the trading platform — login,
//!   同步诚信库, upload with a signed receipt; [`platform_flow`]: which platform, the saved
//!   session, 扫码登录 with progress, published tenders (CLI and window);
//! - [`staff_lab`]: the staff test console's services, simulated phones and faulted runs.

pub mod about;
pub mod auth;
pub mod bid_upload;
pub mod error;
pub mod generate;
pub mod hall;
pub mod hall_fetch;
pub mod history;
pub mod i18n;
pub mod library_sync;
pub mod opening_hall;
pub mod opening_report;
pub mod phone_adapters;
pub mod platform_client;
pub mod platform_flow;
pub mod project_flow;
pub mod qr_files;
pub mod relay;
pub mod report;
pub mod scan_session;
pub mod seal;
pub mod staff_lab;
pub mod trust;

pub use error::FlowError;
