//! Runs `tests/newcomer.sh`: a newcomer's whole bidder flow by hand, from an empty folder, with
//! the commands the README and docs show (real processes: phone init, serve-cosign, relay,
//! tender make, project new/attach/set/compose/status/seal/generate/trial-decrypt, open), every
//! step's exit code and output checked, plus bad inputs with their documented codes. About 80 s,
//! most of it waiting for the tender's opening time.

use std::process::Command;

#[test]
fn a_newcomer_runs_the_whole_bidder_flow_by_hand() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/newcomer.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("BIDSEAL", env!("CARGO_BIN_EXE_bidseal"))
        // `phone init` takes its split keys from the test key pool (docs/key-split.md).
        .env(
            bidseal_phone::provision::TEST_KEY_POOL_ENV,
            bidseal_phone::provision::test_key_pool_dir(),
        )
        .output()
        .unwrap_or_else(|e| panic!("bash {script}: {e}"));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "newcomer flow failed:\n{log}");
    assert!(log.contains("steps passed"), "{log}");
}
