//! The cross-function tests, as one test binary (one link of the workspace instead of one
//! per file). Each module was a test binary of its own; its tests keep their names under
//! the module's (`e2e_smm::fifty_parallel_adds_never_overdraw`).
//!
//! Everything the harness starts once (moto, the local stack) is now shared by every
//! module, as it already was by the tests of one file: tests use their own tables,
//! accounts, phones and receivers. Tests that change what the whole stack does, or would
//! flood it for the others, start a stack of their own with [`kobo_tests::own_stack`].

mod abuse;
mod bench_smm;
mod bench_vtu;
mod bench_webhooks;
mod browser;
mod chaos;
mod e2e_auth;
mod e2e_deposits;
mod e2e_fuzz;
mod e2e_smm;
mod e2e_upstream_faults;
mod e2e_vtu;
mod e2e_webhooks;
mod e2e_withdrawals;
mod emulator;
mod events;
mod hubtel_throttle;
mod layers;
mod ledger_random;
mod money_smm;
mod money_vtu;
mod portal;
mod routing;
mod smm_types;
mod store;
mod template;
mod vtu_depth;
mod wire_vtpass;
