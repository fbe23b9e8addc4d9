//! `parsers::udp_target` (see `fuzz/src/parsers.rs` for what it checks).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    qfp_fuzz::parsers::udp_target(data);
});
