//! The baseline of `kobo bench --cold`: a hello-world `lambda_http` function that builds
//! the same SDK clients as kobo's functions (settings, DynamoDB, SQS, Secrets Manager,
//! JSON logs) and answers every request `hello`.

use std::convert::Infallible;

use lambda_http::{run, service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let c = kobo_shared::platform::aws::Container::init().await?;
    let clients = &(c.dynamodb, c.sqs, c.secrets);
    run(service_fn(move |_req: Request| async move {
        let _ = clients;
        Ok::<_, Infallible>(Response::new(Body::from("hello")))
    }))
    .await
}
