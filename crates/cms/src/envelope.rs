//! The multi-recipient bid envelope: streaming CMS AuthEnvelopedData (RFC 5083/5084) with one
//! RFC 5753 key-agreement recipient per certificate.
//!
//! Not built yet (issue #4).
