//! PDF side of BidSeal: seal appearances, signing by incremental update and verification.
//!
//! Owns: the three persistable signing phases (prepare → digest → finalize, see [`seal`]) that
//! let the signature value come from a phone; placement of visible seals on rotated and
//! offset pages, one signature with many widgets and cross-page seals 骑缝章 ([`placement`]);
//! a lazy reader that never loads a whole document ([`reader`]); and verification of every
//! signature in a file for the bid-opening hall ([`verify`]), judging what later revisions
//! changed with [`diff`] (also the seal's post-write self-check); XMP checks in [`xmp`].
//!
//! Never rewrites earlier bytes of a document: the input is always a byte prefix of the
//! output. Does not compose new PDFs (a later issue).

pub mod date;
pub mod diff;
pub mod error;
pub mod image;
pub mod object;
pub mod pages;
pub mod parser;
pub mod placement;
pub mod reader;
pub mod seal;
pub mod update;
pub mod verify;
pub mod xmp;

pub use error::PdfError;
pub use placement::PageRect;
pub use seal::{PendingSeal, SealKind, SealRequest, WidgetLayout, WorkingCopy};
pub use verify::{verify_file, SignatureReport, VerificationReport};
