//! `ctrl_targets::peer_msg_target` (see `fuzz/src/ctrl_targets.rs` for what it checks).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    qfp_fuzz::ctrl_targets::peer_msg_target(data);
});
