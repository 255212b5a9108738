//! AWS SDK configuration, built once per container. The endpoint comes from the standard
//! `AWS_ENDPOINT_URL` variable, so the same code talks to AWS or to the local emulator.

pub use aws_config::SdkConfig;

/// Loads the SDK configuration from the environment (region, credentials, endpoint).
pub async fn load() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}
