//! `qfpctl`: the same program as `qfp ctl`, under the name IOS users type, so it can be put
//! on PATH on its own (`cargo build --release` builds `target/release/qfpctl`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use ctrl::cli::parse_as;
use ctrl::ctl::QfpctlCli;

fn main() -> ExitCode {
    // First, before any code that may use AVX: see ctrl::cpu.
    ctrl::cpu::require_or_exit();
    match parse_as::<QfpctlCli, _, _>(std::env::args_os()) {
        Ok(cli) => ExitCode::from(ctrl::ctl::client::main(&cli.args, "qfpctl")),
        Err((text, code)) => {
            if code == 0 {
                print!("{text}");
            } else {
                eprintln!("{text}");
            }
            ExitCode::from(code as u8)
        }
    }
}
