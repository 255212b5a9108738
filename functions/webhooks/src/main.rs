//! Lambda entry point of the webhook worker.

use aws_lambda_events::event::sqs::SqsEvent;
use kobo_shared::flows::webhooks::deliver::{Queue, Settings};
use kobo_shared::platform::secrets::SecretsCache;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let c = kobo_shared::platform::aws::Container::init().await?;
    let settings = Settings { retry_delays: c.config.webhook_retry_delays.clone(), ..Settings::production() };
    let worker = kobo_webhooks::Worker::new(
        kobo_shared::Store::of(&c),
        Queue::new(c.sqs.clone(), c.config.webhook_queue_url.clone()),
        SecretsCache::with_ttl(
            c.secrets.clone(),
            c.config.vault_key_secret_id.clone(),
            std::time::Duration::from_secs(c.config.secrets_ttl_secs),
        ),
        settings,
    )?;
    let worker = &worker;
    run(service_fn(
        move |event: LambdaEvent<SqsEvent>| async move { Ok::<_, Error>(worker.handle(event.payload).await) },
    ))
    .await
}
