//! The demo tender (滨江新区第一中学…) as built into the binaries: its spec and its tender PDF
//! from `assets/demo-tender/`. One copy for every user of it — `bidseal demo`, `tender make`'s
//! template, the reference platform's demo world and the staff console's lab tender — so they
//! never drift apart. Each caller still makes and signs its own package from these.

/// `assets/demo-tender/spec.json`: the tender's requirements (sections, signing nodes, form).
pub const DEMO_SPEC: &str = include_str!("../../../../assets/demo-tender/spec.json");

/// `assets/demo-tender/tender.pdf`: the tender document the package carries.
pub const DEMO_PDF: &[u8] = include_bytes!("../../../../assets/demo-tender/tender.pdf");
