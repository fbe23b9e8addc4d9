//! `qfp`: entry point. Checks the CPU before anything else (the binary is built for
//! AES-NI, PCLMULQDQ and AVX2), parses the command line and runs the subcommand.
//! Exit status: 0 clean stop, 1 failure at run time, 2 bad flags or arguments.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use ctrl::cli::{self, Command, Parsed};

fn main() -> ExitCode {
    // First, before any code that may use AVX: see ctrl::cpu.
    ctrl::cpu::require_or_exit();
    let cli = match cli::parse(std::env::args_os()) {
        Parsed::Command(cli) => cli,
        Parsed::Exit(text, code) => {
            if code == 0 {
                print!("{text}");
            } else {
                eprintln!("{text}");
            }
            return ExitCode::from(code as u8);
        }
    };
    match cli.command {
        Command::Run(args) => match ctrl::run::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("qfp: {e}");
                ExitCode::from(e.exit_code())
            }
        },
        Command::Gen(args) => match ctrl::load::generator::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("qfp gen: {e}");
                ExitCode::from(e.code)
            }
        },
        Command::Ctl(args) => ExitCode::from(ctrl::ctl::client::main(&args, "qfp ctl")),
        Command::Pcap(args) => match ctrl::load::pcap::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("qfp pcap: {e}");
                ExitCode::from(e.code)
            }
        },
        Command::Demo(args) => match ctrl::demo::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("qfp demo: {e}");
                ExitCode::from(e.code)
            }
        },
    }
}
