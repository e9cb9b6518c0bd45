//! The reference trading platform: publishes tenders, serves the integrity library (诚信库)
//! signed by the platform, accepts bid uploads with a signed receipt, and runs the opening.
//!
//! Not built yet: this crate is an empty shell.
