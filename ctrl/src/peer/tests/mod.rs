//! Tests of the peer channel (see the submodules).

mod exchange;
mod hostile;
mod props;
mod recovery;
mod sim;
mod storm;
