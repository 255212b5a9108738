//! Lambda entry point of the relay.

use aws_lambda_events::event::dynamodb::Event;
use kobo_shared::flows::webhooks::deliver::Queue;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    kobo_shared::platform::telemetry::init();
    let config = kobo_shared::platform::config::Config::from_env()?;
    let sdk = kobo_shared::platform::aws::load().await;
    let relay = kobo_relay::Relay {
        store: kobo_shared::Store::new(aws_sdk_dynamodb::Client::new(&sdk), config.table.clone()),
        queue: Queue::new(aws_sdk_sqs::Client::new(&sdk), config.webhook_queue_url.clone()),
    };
    let relay = &relay;
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        let records = kobo_relay::outbox_records(&event.payload);
        relay.handle(&records).await?;
        Ok::<_, Error>(())
    }))
    .await
}
