//! Decap of arbitrary packets, of arbitrary plaintexts sealed with a real key, and the
//! encap/decap identity (input format in `harness.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    qfp_fuzz::harness::decap_target(data);
});
