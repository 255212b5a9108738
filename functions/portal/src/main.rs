//! Lambda entry point of the Developer Portal: builds [`kobo_portal::App`] once per
//! container, then hands every request to [`kobo_portal::handle`].

use std::convert::Infallible;

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let app = kobo_portal::App::from_env().await?;
    let app = &app;
    run(service_fn(move |req: Request| async move { Ok::<_, Infallible>(kobo_portal::handle(app, req).await) })).await
}
