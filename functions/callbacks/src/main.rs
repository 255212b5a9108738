//! Lambda entry point of the callbacks function.

use std::convert::Infallible;

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let c = kobo_shared::platform::aws::Container::init().await?;
    let cb = kobo_callbacks::Callbacks::new(&c.config, c.dynamodb, c.secrets);
    let cb = &cb;
    run(service_fn(move |req: Request| async move { Ok::<_, Infallible>(kobo_callbacks::handle(cb, req).await) })).await
}
