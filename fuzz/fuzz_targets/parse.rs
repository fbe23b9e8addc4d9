//! Every wire parser over arbitrary bytes, as a frame and as an IP packet.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    qfp_fuzz::harness::parse_target(data);
});
