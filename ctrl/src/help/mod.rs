//! The man-page sections of every subcommand's `--help`: DESCRIPTION (clap's `long_about`,
//! shown above the options) and EXAMPLES, EXIT STATUS, FILES, SEE ALSO and the like
//! (clap's `after_long_help`, shown below them). `-h` keeps the one-screen summary.
//!
//! They live here, not beside the flags, so that the files with the flags only gain one
//! attribute line each: other branches add flags there, and the texts should not get in
//! the way of their merges. One file per subcommand (or pair of kin); a test in `cli.rs`
//! checks that every section of every subcommand is rendered, in order, and that `-h`
//! stays short. Every example is a command that works as written (given its files).

mod ctl;
mod demo;
mod load;
mod run;

pub use ctl::{CTL_AFTER, CTL_DESCRIPTION};
pub use demo::{DEMO_AFTER, DEMO_DESCRIPTION};
pub use load::{GEN_AFTER, GEN_DESCRIPTION, PCAP_AFTER, PCAP_DESCRIPTION};
pub use run::{RUN_AFTER, RUN_DESCRIPTION};
