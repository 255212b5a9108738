//! Lambda entry point of the callbacks function.

use std::convert::Infallible;

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    kobo_shared::platform::telemetry::init();
    let config = kobo_shared::platform::config::Config::from_env()?;
    let sdk = kobo_shared::platform::aws::load().await;
    let cb = kobo_callbacks::Callbacks::new(
        &config,
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_secretsmanager::Client::new(&sdk),
    );
    let cb = &cb;
    run(service_fn(move |req: Request| async move { Ok::<_, Infallible>(kobo_callbacks::handle(cb, req).await) })).await
}
