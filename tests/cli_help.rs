//! The headless path: `bidseal --help` lists every subcommand, and a subcommand that is not
//! built yet fails loudly instead of pretending to work.

use std::process::Command;

fn bidseal(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bidseal"))
        .args(args)
        .output()
        .expect("the bidseal binary built by cargo runs")
}

#[test]
fn help_lists_every_subcommand() {
    let out = bidseal(&["--help"]);
    assert!(out.status.success(), "--help failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in [
        "seal", "verify", "envelope", "relay", "scan", "phone", "tender", "project", "open", "demo",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(sub)),
            "--help does not list `{sub}`:\n{text}"
        );
    }
}

#[test]
fn version_matches_the_workspace() {
    let out = bidseal(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("bidseal {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_subcommand_is_an_error() {
    let out = bidseal(&["no-such-thing"]);
    assert!(!out.status.success());
}
