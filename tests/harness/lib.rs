//! Shared helpers for the end-to-end tests (to be written).
#![forbid(unsafe_code)]
