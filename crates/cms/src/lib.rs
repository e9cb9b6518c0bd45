//! Cryptographic message syntax for BidSeal.
//!
//! Owns: X.509 certificates and a multi-CA trust store (`cert`), CMS SignedData assembled
//! around an externally produced ECDSA P-256 signature for PDF signatures and the bid manifest
//! (`signed_data`), and the multi-recipient bid envelope (`envelope`: AuthEnvelopedData,
//! AES-256-GCM, one RFC 5753 key-agreement recipient per certificate) with streaming
//! encryption and split decryption.

pub mod cert;
pub mod envelope;
pub mod signed_data;
