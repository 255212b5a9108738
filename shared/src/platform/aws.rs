//! AWS SDK configuration, built once per container. The endpoint comes from the standard
//! `AWS_ENDPOINT_URL` variable, so the same code talks to AWS or to the local emulator.

pub use aws_config::SdkConfig;

/// Loads the SDK configuration from the environment (region, credentials, endpoint).
pub async fn load() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

/// What every Lambda builds once at init: logs, its settings and its AWS clients.
#[derive(Debug, Clone)]
pub struct Container {
    /// Settings from the environment.
    pub config: super::config::Config,
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl Container {
    /// Installs the JSON logs, reads the settings and builds the clients.
    pub async fn init() -> Result<Container, super::config::ConfigError> {
        super::telemetry::init();
        let config = super::config::Config::from_env()?;
        let sdk = load().await;
        Ok(Container {
            config,
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
        })
    }
}
