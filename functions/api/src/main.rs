//! Lambda entry point of the reseller API: builds [`kobo_api::App`] once per container,
//! then hands every request to [`kobo_api::handle`].

use std::convert::Infallible;

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let app = kobo_api::App::from_env().await?;
    let app = &app;
    run(service_fn(move |req: Request| async move { Ok::<_, Infallible>(kobo_api::handle(app, req).await) })).await
}
