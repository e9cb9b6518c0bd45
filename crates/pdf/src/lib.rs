//! PDF side of BidSeal: seal appearances, signing by incremental update and verification.
//!
//! Owns: the three persistable signing phases (prepare → digest → finalize) that let the
//! signature value come from a phone, placement of visible seals (including cross-page seals
//! 骑缝章 and one signature with many widgets), and verification of every signature in a
//! file for the bid-opening hall. Never rewrites earlier bytes of a document.
//!
//! Not built yet (issue #3): this crate is an empty shell.
