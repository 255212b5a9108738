//! Shared harness of the cross-function tests: moto and the local stack ([`stack`]), test
//! data ([`fixtures`]), the API client ([`client`]) and a webhook receiver
//! ([`receiver`]). Everything is re-exported at the root (`kobo_tests::stack()`).

pub mod client;
pub mod fixtures;
pub mod receiver;
pub mod stack;

pub use client::{api_request, client_from, fresh_source_ip, json_of, percentile_ms, ApiClient};
pub use fixtures::{assert_ledger_sums, new_reseller, store_with_plan, unique, vtu_reseller, ResellerSpec};
pub use receiver::{free_port, Mode, Received, Receiver};
pub use stack::{
    fresh_resources, heavy, launch_moto, local_functions, moto_endpoint, own_stack, own_stack_with, project, sdk,
    stack, test_app, CallCounter, Stack, StackSlot, TestApp,
};
