//! CMS SignedData built around an external ECDSA P-256 signature, and its verification.
//!
//! Not built yet (issue #3).
