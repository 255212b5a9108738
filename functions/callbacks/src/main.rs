//! Lambda entry point of the callbacks function.

use std::convert::Infallible;

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    kobo_shared::telemetry::init();
    let config = kobo_shared::config::Config::from_env()?;
    let sdk = kobo_shared::aws::load().await;
    let cb = kobo_callbacks::Callbacks::new(
        &config,
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_secretsmanager::Client::new(&sdk),
    );
    let cb = &cb;
    run(service_fn(move |req: Request| async move { Ok::<_, Infallible>(kobo_callbacks::handle(cb, req).await) })).await
}
