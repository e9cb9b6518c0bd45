//! `bidseal`: the command line of BidSeal. Thin by design: it parses arguments, prints progress
//! and results, and calls the `workflow` crate for everything else. Each subcommand lives in
//! its own module under `cmd/`; exit codes are decided in one place, `cmd::exit`.

mod cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    // `println!` in code not yet on `outln!` panics on a closed pipe or a full disk: keep that
    // panic's message off stderr and end as `outln!` would (see `cmd::exit`).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if cmd::exit::is_stdout_panic(info.payload()).is_none() {
            default_hook(info);
        }
    }));
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let env_lang = std::env::var(cmd::lang::LANG_ENV).ok();
    cmd::lang::set(cmd::lang::detect(&args, env_lang.as_deref()));
    let cli = match cmd::lang::parse_cli(args) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cmd::run(cli))) {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => cmd::exit::report(&err),
        Err(payload) => match cmd::exit::is_stdout_panic(payload.as_ref()) {
            Some(err) => cmd::exit::stdout_failed(&err),
            None => std::panic::resume_unwind(payload),
        },
    }
}
