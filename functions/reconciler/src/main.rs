//! Lambda entry point of the reconciler: one pass per scheduled event.
#![recursion_limit = "256"]

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    kobo_shared::platform::telemetry::init();
    let config = kobo_shared::platform::config::Config::from_env()?;
    let sdk = kobo_shared::platform::aws::load().await;
    let rec = kobo_reconciler::Reconciler::new(
        &config,
        aws_sdk_dynamodb::Client::new(&sdk),
        aws_sdk_secretsmanager::Client::new(&sdk),
    );
    let rec = &rec;
    run(service_fn(move |_event: LambdaEvent<serde_json::Value>| async move {
        let (smm, vtu) = rec.run_all().await?;
        Ok::<_, Error>(serde_json::json!({ "smm": smm, "vtu": vtu }))
    }))
    .await
}
