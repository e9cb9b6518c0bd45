//! `bidseal`: the command line of BidSeal. Thin by design: it parses arguments, prints progress
//! and results, and calls the `workflow` crate for everything else. Each subcommand lives in
//! its own module under `cmd/`.

mod cmd;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("错误: {err:#}");
            ExitCode::from(2)
        }
    }
}
