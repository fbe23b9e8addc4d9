//! `dpdk-sys`: bindgen over the system libdpdk plus a thin safe layer (to be written).
