//! Lambda entry point of the reconciler: one pass per scheduled event.
#![recursion_limit = "256"]

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let c = kobo_shared::platform::aws::Container::init().await?;
    let rec = kobo_reconciler::Reconciler::new(&c.config, c.dynamodb, c.secrets);
    let rec = &rec;
    run(service_fn(move |_event: LambdaEvent<serde_json::Value>| async move {
        let (smm, vtu) = rec.run_all().await?;
        Ok::<_, Error>(serde_json::json!({ "smm": smm, "vtu": vtu }))
    }))
    .await
}
