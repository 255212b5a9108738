//! Deposits end to end: `deposit` → a Hubtel paylink → Hubtel's payment callback credits
//! the wallet exactly once; duplicates, forged URLs, wrong amounts and unknown deposits
//! change nothing.

use kobo_shared::flows::accounts;
use kobo_shared::Kobo;
use kobo_tests::{new_reseller, stack, ApiClient, ResellerSpec};
use serde_json::{json, Value};

async fn paylink_of(hubtel: &str, deposit_id: &str) -> (String, Value) {
    let links: Value = reqwest::get(format!("{hubtel}/control/paylinks"))
        .await
        .expect("the Hubtel simulator lists its paylinks")
        .json()
        .await
        .unwrap_or_default();
    links
        .as_object()
        .and_then(|m| m.iter().find(|(_, v)| v["clientReference"] == json!(deposit_id)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap_or_else(|| panic!("no paylink for {deposit_id}: {links}"))
}

async fn pay(hubtel: &str, paylink: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{hubtel}/control/pay/{paylink}"))
        .json(&body)
        .send()
        .await
        .expect("the Hubtel simulator takes the payment")
        .json()
        .await
        .unwrap_or_default()
}

#[tokio::test]
async fn a_paid_deposit_is_credited_once_and_nothing_else_credits() {
    let s = stack();
    let store = s.store().await;
    let (acct, key) = new_reseller(&store, ResellerSpec { balance: Kobo::naira(100), ..Default::default() }).await;
    let c = ApiClient::new(s, &key);
    for bad in ["0", "50", "5000000.01", "abc", "10.001"] {
        // Sent as it stands: out of range, not a number, a fraction of a kobo.
        let (st, v) = c.call(&[("action", "deposit"), ("amount", bad)]).await;
        assert_eq!(st, 422, "{bad}: {v}");
    }
    let (st, v) = c.deposit("2500.50").await;
    assert_eq!(st, 200, "{v}");
    assert_eq!((v["status"].as_str(), v["amount"].as_str()), (Some("awaiting_payment"), Some("2500.50")));
    assert!(v["paylink_url"].as_str().is_some_and(|u| u.starts_with("https://")));
    let id = v["deposit_id"].as_str().unwrap_or_default().to_string();
    let (paylink, link) = paylink_of(&s.hubtel_base, &id).await;
    let callback_url = link["callbackUrl"].as_str().unwrap_or_default().to_string();
    assert!(callback_url.starts_with(&s.base_url) && callback_url.contains(&id));

    // Forged: right deposit, wrong secret; and a secret of another deposit. (The secret is
    // hex: one ending in 0 gets a 1, or the "forgery" would be the real URL.)
    let last = if callback_url.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &callback_url[..callback_url.len() - 1]);
    let body = json!({"message": "Success", "responseCode": "0000", "data": {"status": "Success", "amount": 2500.50, "clientReference": id, "paylinkId": paylink}});
    let r =
        reqwest::Client::new().post(&forged).json(&body).send().await.expect("the forged callback reaches the stack");
    assert_eq!(r.status().as_u16(), 401);
    // Wrong amount: refused (the URL is bound to the amount); failed payment: ignored.
    assert_eq!(pay(&s.hubtel_base, &paylink, json!({"amount": 25.0})).await["callback_status"], 401);
    assert_eq!(
        pay(&s.hubtel_base, &paylink, json!({"status": "Failed"})).await["callback_answer"]["status"],
        "ignored"
    );
    assert_eq!(c.balance().await, Kobo::naira(100));

    // Paid: credited once, however often Hubtel repeats it, even at once.
    let (a, b, c2) = tokio::join!(
        pay(&s.hubtel_base, &paylink, json!({})),
        pay(&s.hubtel_base, &paylink, json!({})),
        pay(&s.hubtel_base, &paylink, json!({}))
    );
    let answers: Vec<Value> = vec![a, b, c2].into_iter().map(|v| v["callback_answer"]["status"].clone()).collect();
    assert_eq!(answers.iter().filter(|a| **a == "credited").count(), 1, "{answers:?}");
    assert_eq!(answers.iter().filter(|a| **a == "duplicate").count(), 2, "{answers:?}");
    assert_eq!(c.balance().await, Kobo::new(10_000 + 250_050));
    let (_, st) = c.deposit_status(&id).await;
    assert_eq!(st["status"], "credited");
    let deposits = store.ledger(&acct).await.unwrap_or_default().into_iter().filter(|e| e.kind == "deposit").count();
    assert_eq!(deposits, 1);
    let a = store.get_account(&acct).await.ok().flatten().unwrap_or_else(|| panic!("no account"));
    assert!(accounts::check_ledger(&store, &a).await.map(|c| c.ok()).unwrap_or(false));

    // Another account cannot see it; an unknown deposit with a guessed URL gets 401.
    let (_, other_key) = new_reseller(&store, ResellerSpec::default()).await;
    let other = ApiClient::new(s, &other_key);
    assert_eq!(other.deposit_status(&id).await.0, 404);
    let guessed = callback_url.replace(&id, "dep_00000000000000000000000000000000");
    let r =
        reqwest::Client::new().post(&guessed).json(&body).send().await.expect("the guessed callback reaches the stack");
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn a_deposit_left_pending_gets_its_paylink_from_the_reconciler() {
    use kobo_shared::domain::deposit::{new_deposit_id, Deposit, DepositStatus};
    let s = stack();
    let store = s.store().await;
    let (acct, key) = new_reseller(&store, ResellerSpec::default()).await;
    // As the API leaves it when Hubtel's limit had no slot in time.
    let d = Deposit {
        id: new_deposit_id(),
        account_id: acct.clone(),
        amount: Kobo::naira(1_000),
        status: DepositStatus::Pending,
        paylink_id: None,
        paylink_url: None,
        created_at: kobo_shared::domain::time::now_rfc3339(),
    };
    store.put_deposit(&d).await.expect("storing the pending deposit");
    let c = ApiClient::new(s, &key);
    let (_, v) = c.deposit_status(&d.id).await;
    assert_eq!((v["status"].as_str(), v["paylink_url"].clone()), (Some("pending"), Value::Null));
    // Passes go on (accounts in turn, Hubtel's window shared with the other tests).
    let rec = s.reconciler().await;
    let mut v = Value::Null;
    for _ in 0..60 {
        rec.run_deposits_once().await.expect("reconciler deposit pass");
        v = c.deposit_status(&d.id).await.1;
        if v["status"] != "pending" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(v["status"], "awaiting_payment", "{v}");
    let (paylink, _) = paylink_of(&s.hubtel_base, &d.id).await;
    assert_eq!(pay(&s.hubtel_base, &paylink, json!({})).await["callback_answer"]["status"], "credited");
    assert_eq!(c.balance().await, Kobo::naira(10_000 + 1_000));
}

#[tokio::test]
async fn accounts_with_notices_get_sms_for_deposits_and_low_balance() {
    use kobo_shared::domain::account::NoticeSettings;
    let s = stack();
    let store = s.store().await;
    let (acct, key) = new_reseller(&store, ResellerSpec { balance: Kobo::naira(1_000), ..Default::default() }).await;
    accounts::set_pin(&store, &s.pepper().await, &acct, "1234").await.expect("setting the reseller's PIN");
    let phone = "+2348039990001";
    store
        .set_notices(&acct, &NoticeSettings { phone: Some(phone.into()), low_balance: Some(Kobo::naira(1_500)) })
        .await
        .expect("turning the account's notices on");
    let c = ApiClient::new(s, &key);
    let (_, v) = c.deposit("1000").await;
    let id = v["deposit_id"].as_str().unwrap_or_default().to_string();
    let (paylink, _) = paylink_of(&s.hubtel_base, &id).await;
    assert_eq!(pay(&s.hubtel_base, &paylink, json!({})).await["callback_answer"]["status"], "credited");
    // ₦2,000 now; an ₦800 airtime purchase (₦784) crosses the ₦1,500 alert.
    let (st, v) = c.vtu_airtime("mtn", "08039990001", "800", "1234").await;
    assert_eq!(st, 200, "{v}");
    let rec = s.reconciler().await;
    let mut sent = 0;
    // Passes go on until Hubtel's window (shared with the other tests) has room.
    for _ in 0..60 {
        sent += rec.run_sms_once().await.expect("reconciler SMS pass");
        if sent >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let stats: Value = reqwest::get(format!("{}/control/stats", s.hubtel_base))
        .await
        .expect("the Hubtel simulator reports its stats")
        .json()
        .await
        .unwrap_or_default();
    let mine: Vec<String> = stats["sms"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|m| m["to"] == json!(phone))
                .filter_map(|m| m["content"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    assert!(mine.iter().any(|m| m.contains("credited with NGN 1000.00")), "{mine:?}");
    assert!(mine.iter().any(|m| m.contains("below your alert of NGN 1500.00")), "{mine:?}");
    assert_eq!(mine.len(), 2, "exactly one of each: {mine:?}");
}

/// Money review finding 7: a deposit paid with its amount sent as a string (`"5000.00"`)
/// is credited; Hubtel's own callback for a deposit reporting another amount (fees
/// added) or a status kobo does not know credits nothing and puts the deposit before an
/// operator with what did not match; an honest failure is only ignored. Before the fix
/// the string amount was refused 401 and never credited, and none of it raised an alert.
#[tokio::test]
async fn deposit_callbacks_read_hubtels_amount_forms_and_alert_what_they_refuse() {
    let s = stack();
    let store = s.store().await;
    let (acct, key) = new_reseller(&store, ResellerSpec { balance: Kobo::naira(100), ..Default::default() }).await;
    let c = ApiClient::new(s, &key);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (st, v) = c.deposit("5000").await;
        assert_eq!(st, 200, "{v}");
        ids.push(v["deposit_id"].as_str().unwrap_or_default().to_string());
    }
    let alerts_of = |id: String| {
        let store = &store;
        async move {
            let about = format!("deposit:{id}");
            store.alerts().await.expect("listing alerts").into_iter().filter(|a| a.about() == about).collect::<Vec<_>>()
        }
    };

    // The amount as a string: credited.
    let (paylink, _) = paylink_of(&s.hubtel_base, &ids[0]).await;
    let answer = pay(&s.hubtel_base, &paylink, json!({"amount": "5000.00"})).await;
    assert_eq!(answer["callback_answer"]["status"], "credited", "{answer}");
    assert_eq!(c.balance().await, Kobo::naira(5_100));
    // A later callback for it reporting something else (a reversed payment?): nothing
    // changes, and the alert says it was credited (a debit, not a credit, may be due).
    let answer = pay(&s.hubtel_base, &paylink, json!({"amount": "5000.00", "status": "Refunded"})).await;
    assert_eq!(answer["callback_answer"]["status"], "ignored", "{answer}");
    let alerts = alerts_of(ids[0].clone()).await;
    assert!(
        alerts.len() == 1
            && alerts[0].subject.ends_with("/changed-after-credit")
            && alerts[0].command.contains("debit"),
        "{alerts:?}"
    );
    assert_eq!(c.balance().await, Kobo::naira(5_100));

    // Fees added by the payer's side: refused, nothing credited, an operator alerted.
    let (paylink, _) = paylink_of(&s.hubtel_base, &ids[1]).await;
    let answer = pay(&s.hubtel_base, &paylink, json!({"amount": 5075.0})).await;
    assert_eq!(answer["callback_status"], 401, "{answer}");
    assert_eq!(c.balance().await, Kobo::naira(5_100));
    let alerts = alerts_of(ids[1].clone()).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].subject, format!("deposit:{}/not-credited", ids[1]));
    assert!(alerts[0].reason.contains("5075") && alerts[0].reason.contains("5000.00"), "{:?}", alerts[0]);
    assert!(alerts[0].command.contains("kobo wallet credit"), "{:?}", alerts[0]);

    // A failure is ignored quietly; a status kobo does not know is ignored and alerted.
    let (paylink, _) = paylink_of(&s.hubtel_base, &ids[2]).await;
    let answer = pay(&s.hubtel_base, &paylink, json!({"status": "Failed"})).await;
    assert_eq!(answer["callback_answer"]["status"], "ignored", "{answer}");
    assert!(alerts_of(ids[2].clone()).await.is_empty(), "an honest failure raises nothing");
    let answer = pay(&s.hubtel_base, &paylink, json!({"status": "Reversed_Pending"})).await;
    assert_eq!(answer["callback_answer"]["status"], "ignored", "{answer}");
    let alerts = alerts_of(ids[2].clone()).await;
    assert!(alerts.len() == 1 && alerts[0].reason.contains("reversed_pending"), "{alerts:?}");
    assert_eq!(c.balance().await, Kobo::naira(5_100));
    kobo_tests::assert_ledger_sums(&store, &acct).await;
}
