//! The co-signing service (the phone's back office): certificate state, PIN verifier and
//! lockout, key shares and the usage log ([`state`]), served over HTTP ([`server`]) and called
//! by the phone and the admin CLI ([`client`]).

pub mod client;
pub mod device;
pub mod limits;
pub mod opening;
pub mod server;
pub mod split;
pub mod state;
pub mod tls;
