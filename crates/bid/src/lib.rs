//! Bid documents: tender packages, bid projects, bid files and their opening.
//!
//! Owns: the tender package format, the bid project folder, the bid file (signed package +
//! manifest, encrypted to several certificates) and its verification at the opening hall.
//!
//! Not built yet (issue #6): this crate is an empty shell.
