//! Lambda entry point of the webhook worker.

use aws_lambda_events::event::sqs::SqsEvent;
use kobo_shared::flows::webhooks::deliver::{Queue, Settings};
use kobo_shared::platform::secrets::SecretsCache;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    kobo_shared::platform::telemetry::init();
    let config = kobo_shared::platform::config::Config::from_env()?;
    let sdk = kobo_shared::platform::aws::load().await;
    let settings = Settings { retry_delays: config.webhook_retry_delays.clone(), ..Settings::production() };
    let worker = kobo_webhooks::Worker::new(
        kobo_shared::Store::new(aws_sdk_dynamodb::Client::new(&sdk), config.table.clone()),
        Queue::new(aws_sdk_sqs::Client::new(&sdk), config.webhook_queue_url.clone()),
        SecretsCache::new(aws_sdk_secretsmanager::Client::new(&sdk), config.app_secret_id.clone()),
        settings,
    )?;
    let worker = &worker;
    run(service_fn(
        move |event: LambdaEvent<SqsEvent>| async move { Ok::<_, Error>(worker.handle(event.payload).await) },
    ))
    .await
}
