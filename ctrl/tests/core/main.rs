//! The control core of `qfp run -c` driving two in-memory gateways (real tables, workers,
//! `GatewayControl` and `ControlCore`; heap buffers instead of mbufs; a simulated clock
//! and wire), every data packet counted by its number: rekey storms in both orders, over
//! a clean and a hostile peer link, desync repair and its absence, `clear sa`, forged and
//! replayed peer messages, lifetimes and sequence exhaustion; and a threaded stress of the
//! publication path under the control core.
#![forbid(unsafe_code)]

mod desync;
mod lifetimes;
mod publication;
mod sim;
mod storm;
