//! Simulators of the upstream providers, served on loopback by the local stack and the
//! tests. They speak the providers' real wire formats, and take faults on demand through
//! `/control/...` endpoints, and turn hostile on demand (`POST /control/chaos`, see
//! [`chaos`]).

pub mod chaos;
pub mod hubtel;
pub mod smm;
pub mod topup;
pub mod vtpass;
