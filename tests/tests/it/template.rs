//! template.yaml passes cfn-lint (offline, pinned), every route it declares can be served
//! locally, and every file in events/ is an event lambda_http accepts.

use kobo_cli::devstack::server::Routes;
use kobo_cli::template::Template;
use kobo_tests::project;

#[test]
fn template_passes_cfn_lint() {
    let p = project();
    let bin = p.ensure_tools().expect("installing the pinned tools");
    let out = std::process::Command::new(bin.join("cfn-lint"))
        .arg(p.template())
        .output()
        .unwrap_or_else(|e| panic!("running cfn-lint: {e}"));
    assert!(
        out.status.success(),
        "cfn-lint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cfn_lint_would_catch_a_broken_template() {
    // Guards the test above against a linter that passes everything.
    let p = project();
    let bin = p.ensure_tools().expect("installing the pinned tools");
    let text = std::fs::read_to_string(p.template()).unwrap_or_default();
    let broken = text.replace("BillingMode: PAY_PER_REQUEST", "BillingMode: PAY_PER_WISH");
    assert_ne!(broken, text);
    let path = std::env::temp_dir().join(format!("kobo-broken-{}.yaml", std::process::id()));
    std::fs::write(&path, broken).expect("writing the broken template");
    let out = std::process::Command::new(bin.join("cfn-lint")).arg(&path).output().expect("running cfn-lint");
    let _ = std::fs::remove_file(&path);
    assert!(!out.status.success(), "cfn-lint accepted an invalid billing mode");
}

#[tokio::test]
async fn every_route_has_a_local_function() {
    let t = Template::load(&project().template()).expect("loading template.yaml");
    assert!(t.routes.iter().any(|r| r.function == "CallbacksFunction" && r.matches("POST", "/callbacks/topup")));
    let sdk = kobo_tests::sdk().await;
    let all = kobo_tests::local_functions(&sdk, &kobo_shared::platform::config::Config::for_table("unused"));
    assert!(Routes::bind(&t, &all).is_ok());
    assert!(Routes::bind(&t, &all[..1]).is_err(), "a route without a local function must be refused");
}

#[test]
fn every_event_file_is_a_valid_lambda_event() {
    let dir = project().root.join("events");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("reading events/").flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if name.starts_with("relay-") {
            let e: aws_lambda_events::event::dynamodb::Event =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not a DynamoDB stream event: {e}"));
            assert!(!e.records.is_empty(), "{name}");
        } else if name.starts_with("webhooks-") {
            let e: aws_lambda_events::event::sqs::SqsEvent =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not an SQS event: {e}"));
            assert!(!e.records.is_empty(), "{name}");
        } else {
            let req = lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            // Each HTTP event is one a route of the template serves.
            let t = Template::load(&project().template()).expect("template");
            assert!(
                t.routes.iter().any(|r| r.matches(req.method().as_str(), req.uri().path())),
                "{name}: no template route serves {} {}",
                req.method(),
                req.uri().path()
            );
        }
        n += 1;
    }
    assert!(n >= 6, "expected the balance, relay and webhooks events, found {n}");
}
