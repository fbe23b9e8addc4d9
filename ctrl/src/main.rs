//! `qfp`: entry point.
#![forbid(unsafe_code)]

fn main() {
    eprintln!("qfp: not built yet");
    std::process::exit(1);
}
