//! The flows of BidSeal (authenticate, sync, seal, generate, decrypt) as functions used by both
//! the command line and the desktop app, so that the two can never disagree.

pub mod about;
pub mod error;

pub use error::FlowError;
