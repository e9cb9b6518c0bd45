//! Benchmark helper for `bench/verify.sh`: the library path of `bidseal verify` (all
//! signatures, digests, CMS, chain, later changes) on one file. Prints one line per signature
//! and exits non-zero unless all are valid. Usage: `verify_file FILE CA.pem`

use bidseal_cms::cert::TrustStore;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, file, ca] = args.as_slice() else {
        return Err("usage: verify_file FILE CA.pem".into());
    };
    let mut trust = TrustStore::new();
    trust.add_pem_file(&PathBuf::from(ca))?;
    let report = bidseal_pdf::verify_file(file.as_ref(), &trust, SystemTime::now())?;
    for s in &report.signatures {
        println!("{}", s.summary_line());
    }
    Ok(if report.all_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
