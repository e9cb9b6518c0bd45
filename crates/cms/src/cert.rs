//! X.509 certificates and the multi-CA trust store.
//!
//! Not built yet (issue #3).
