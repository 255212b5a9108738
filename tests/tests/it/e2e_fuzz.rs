//! Throws malformed requests at the running local stack: random bytes, huge fields, wrong
//! JSON types, repeated fields, odd encodings. Every answer must be a JSON 4xx (or a 200
//! where the request happens to be valid): never a 5xx, never a dropped connection.

use std::collections::BTreeMap;

use kobo_shared::domain::account::Plan;
use kobo_shared::flows::accounts;
use kobo_shared::flows::accounts::NewAccount;
use kobo_shared::Action;
use kobo_tests::{client_from, fresh_source_ip, stack, unique};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn cases(key: &str, rng: &mut StdRng) -> Vec<(Option<&'static str>, Vec<u8>)> {
    let form = Some("application/x-www-form-urlencoded");
    let json = Some("application/json");
    let mut out: Vec<(Option<&'static str>, Vec<u8>)> = vec![
        (form, b"".to_vec()),
        (form, b"&&&===&".to_vec()),
        (form, format!("action=balance&action=balance&key={key}").into_bytes()),
        (form, format!("key={key}&key={key}&action=balance").into_bytes()),
        (form, format!("key={key}&action=").into_bytes()),
        (form, format!("key={key}&action=%").into_bytes()),
        (form, format!("key={key}&action=%zz").into_bytes()),
        (form, format!("key={key}&action=%C3%28").into_bytes()),
        (form, format!("key={key}&action=balance&{}=1", "n".repeat(5000)).into_bytes()),
        (form, format!("key={key}&action=balance&big={}", "x".repeat(300_000)).into_bytes()),
        (form, format!("key={key}&action={}", "balance".repeat(10_000)).into_bytes()),
        (form, format!("key={key}&{}", (0..200).map(|i| format!("f{i}=1")).collect::<Vec<_>>().join("&")).into_bytes()),
        (form, format!("key={key}&action=balance\0").into_bytes()),
        (form, format!("key={}&action=balance", "k".repeat(100_000)).into_bytes()),
        (json, b"{".to_vec()),
        (json, b"[]".to_vec()),
        (json, b"null".to_vec()),
        (json, b"\"balance\"".to_vec()),
        (json, b"12".to_vec()),
        (json, format!(r#"{{"key":"{key}","action":5}}"#).into_bytes()),
        (json, format!(r#"{{"key":"{key}","action":["balance"]}}"#).into_bytes()),
        (json, format!(r#"{{"key":"{key}","action":{{"a":1}}}}"#).into_bytes()),
        (json, format!(r#"{{"key":"{key}","action":true}}"#).into_bytes()),
        (json, r#"{"key":5,"action":"balance"}"#.as_bytes().to_vec()),
        (json, format!(r#"{{"key":"{key}","action":"balance","action":"balance"}}"#).into_bytes()),
        (json, format!(r#"{{"key":"{key}","action":"{}"}}"#, "[".repeat(10_000)).into_bytes()),
        (json, format!(r#"{{"key":"{key}","x":{}1{}}}"#, "[".repeat(1000), "]".repeat(1000)).into_bytes()),
        (json, format!(r#"{{"key":"{key}","action":"bal\u0000ance"}}"#).into_bytes()),
        (Some("text/plain"), format!("key={key}&action=balance").into_bytes()),
        (None, format!("key={key}&action=balance").into_bytes()),
        (
            Some("multipart/form-data; boundary=x"),
            b"--x\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\nbalance\r\n--x--".to_vec(),
        ),
    ];
    for _ in 0..150 {
        let len = rng.random_range(0..2048);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let ct = [form, json, None][rng.random_range(0..3)];
        out.push((ct, bytes));
    }
    for _ in 0..50 {
        // Random printable soup around a valid key, so the action path is reached.
        let soup: String = (0..rng.random_range(0..200)).map(|_| char::from(rng.random_range(32u8..127))).collect();
        out.push((form, format!("key={key}&action={soup}").into_bytes()));
        out.push((form, format!("key={key}&{soup}").into_bytes()));
    }
    out
}

#[tokio::test]
async fn malformed_requests_get_json_4xx_never_5xx() {
    let s = stack();
    let store = s.store().await;
    let plan = Plan {
        id: format!("p{}", unique()),
        name: "fuzz".into(),
        smm_discount_bp: 0,
        vtu_discount_bp: BTreeMap::new(),
        key_rpm: 0,
        ip_rpm: 0,
    };
    store.put_plan(&plan).await.expect("storing the fuzz plan");
    let a = accounts::create_account(
        &store,
        NewAccount { name: "fuzz".into(), plan_id: plan.id, email: None, phone: None, api_active: true, id: None },
    )
    .await
    .expect("creating the fuzz account");
    let (key, _) =
        accounts::issue_key(&store, &a.id, "fuzz", Action::ALL, &[], &[]).await.expect("issuing the fuzz key");

    let mut rng = StdRng::seed_from_u64(0x6b6f626f);
    let http = client_from(fresh_source_ip());
    let all = cases(&key.secret, &mut rng);
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for (i, (ct, body)) in all.iter().enumerate() {
        let mut req = http.post(&s.api_url).body(body.clone());
        if let Some(ct) = ct {
            req = req.header("content-type", *ct);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("case {i}: connection failed: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        *by_status.entry(status).or_default() += 1;
        assert!(status < 500, "case {i} ({ct:?}, {} bytes) got {status}: {text}", body.len());
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("case {i}: not JSON ({e}): {text}"));
        if status >= 400 {
            assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "case {i}: no error message: {text}");
        }
    }
    // The corpus must reach the parser's error paths, not just bounce off auth.
    assert!(by_status.get(&422).copied().unwrap_or(0) >= 20, "{by_status:?}");
    assert!(by_status.contains_key(&413), "{by_status:?}");
    println!("MEASURE fuzz: {} requests, statuses {by_status:?}", all.len());
}
