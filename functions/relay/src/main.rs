//! Lambda entry point of the relay.

use aws_lambda_events::event::dynamodb::Event;
use kobo_shared::flows::webhooks::deliver::Queue;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let c = kobo_shared::platform::aws::Container::init().await?;
    let relay = kobo_relay::Relay {
        store: kobo_shared::Store::of(&c),
        queue: Queue::new(c.sqs.clone(), c.config.webhook_queue_url.clone()),
    };
    let relay = &relay;
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        let records = kobo_relay::outbox_records(&event.payload);
        relay.handle(&records).await?;
        Ok::<_, Error>(())
    }))
    .await
}
