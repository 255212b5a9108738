//! The store and the operator logic against moto through the real SDK: ledger
//! transactions under concurrency, key lifecycle, rate counters, ledger checks.

use kobo_shared::db::keys::RateSubject;
use kobo_shared::domain::ratelimit::window;
use kobo_shared::flows::accounts;
use kobo_shared::flows::accounts::{Direction, NewAccount, OpsError};
use kobo_shared::{Action, Kobo, Store};
use kobo_tests::store_with_plan;

async fn store() -> Store {
    store_with_plan(60).await
}

async fn account(store: &Store) -> String {
    accounts::create_account(
        store,
        NewAccount {
            name: "Shop".into(),
            plan_id: "basic".into(),
            email: None,
            phone: None,
            api_active: true,
            id: None,
        },
    )
    .await
    .expect("creating the account")
    .id
}

#[tokio::test]
async fn concurrent_debits_never_overdraw() {
    let store = store().await;
    let id = account(&store).await;
    accounts::adjust(&store, &id, Direction::Credit, Kobo::naira(100), "opening", "test")
        .await
        .expect("crediting the opening balance");
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let store = store.clone();
            let id = id.clone();
            tokio::spawn(async move {
                accounts::adjust(&store, &id, Direction::Debit, Kobo::naira(10), "spend", "test").await
            })
        })
        .collect();
    let mut ok = 0;
    let mut short = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(OpsError::InsufficientBalance)) => short += 1,
            other => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!((ok, short), (10, 20));
    let acct = store.get_account(&id).await.ok().flatten().unwrap_or_else(|| panic!("account gone"));
    assert_eq!(acct.balance, Kobo::ZERO);
    let check = accounts::check_ledger(&store, &acct).await.expect("checking the ledger");
    assert!(check.ok(), "{check:?}");
    assert_eq!(check.entries, 11);
}

#[tokio::test]
async fn adjustments_need_a_reason_an_amount_and_an_account() {
    let store = store().await;
    let id = account(&store).await;
    assert!(matches!(
        accounts::adjust(&store, &id, Direction::Credit, Kobo::new(100), "  ", "t").await,
        Err(OpsError::Invalid(_))
    ));
    assert!(matches!(
        accounts::adjust(&store, &id, Direction::Credit, Kobo::new(0), "r", "t").await,
        Err(OpsError::Invalid(_))
    ));
    assert!(matches!(
        accounts::adjust(&store, "nosuchacct", Direction::Credit, Kobo::new(100), "r", "t").await,
        Err(OpsError::Invalid(_))
    ));
    assert!(matches!(
        accounts::adjust(&store, &id, Direction::Debit, Kobo::new(1), "r", "t").await,
        Err(OpsError::InsufficientBalance)
    ));
    // Nothing was written by the refusals.
    assert!(store.ledger(&id).await.unwrap_or_default().is_empty());
    assert!(store.ledger("nosuchacct").await.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn ledger_check_finds_a_tampered_balance() {
    let store = store().await;
    let id = account(&store).await;
    accounts::adjust(&store, &id, Direction::Credit, Kobo::new(5_000), "r", "t").await.expect("crediting the account");
    let all = accounts::check_all_ledgers(&store).await.expect("checking every ledger");
    assert!(all.iter().all(|c| c.ok()) && all.len() == 1, "{all:?}");
    // Change the balance behind the ledger's back.
    store
        .client()
        .update_item()
        .table_name(store.table())
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("ACCOUNT#{id}")))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()))
        .update_expression("SET balance = :b")
        .expression_attribute_values(":b", aws_sdk_dynamodb::types::AttributeValue::N("5001".into()))
        .send()
        .await
        .expect("tampering with the balance");
    let all = accounts::check_all_ledgers(&store).await.expect("checking every ledger after the tampering");
    assert_eq!(all.iter().filter(|c| !c.ok()).count(), 1, "{all:?}");
}

#[tokio::test]
async fn key_lifecycle() {
    let store = store().await;
    let id = account(&store).await;
    let (key, rec) = accounts::issue_key(
        &store,
        &id,
        "prod",
        &[Action::Balance],
        &["10.0.0.0/8".into()],
        &["https://Shop.NG/".into()],
    )
    .await
    .expect("issuing the key");
    assert_eq!(rec.domain_whitelist, ["shop.ng"]);
    let (acct, found) = store.auth_lookup(&id, &rec.hash).await.expect("looking the key up as auth does");
    assert_eq!(acct.map(|a| a.id), Some(id.clone()));
    assert_eq!(found.as_ref().map(|k| k.scopes.clone()), Some(vec![Action::Balance]));
    let listed = store.list_keys(&id).await.unwrap_or_default();
    assert_eq!(listed.len(), 1);
    assert!(!format!("{listed:?}").contains(&key.secret), "the key itself must not be stored");

    store.set_key_scopes(&id, &rec.hash, &[Action::Services, Action::Balance]).await.expect("setting the key's scopes");
    store.set_key_whitelists(&id, &rec.hash, Some(&[]), None).await.expect("clearing the key's IP whitelist");
    let k = store.find_key(&id, &rec.key_id).await.expect("finding the key");
    assert_eq!(k.scopes, vec![Action::Services, Action::Balance]);
    assert!(k.ip_whitelist.is_empty());
    assert_eq!(k.domain_whitelist, ["shop.ng"]);

    store.revoke_key(&id, &rec.hash).await.expect("revoking the key");
    let first = store.find_key(&id, &rec.key_id).await.ok().and_then(|k| k.revoked_at);
    store.revoke_key(&id, &rec.hash).await.expect("revoking the key again");
    let second = store.find_key(&id, &rec.key_id).await.ok().and_then(|k| k.revoked_at);
    assert!(first.is_some());
    assert_eq!(first, second, "revoking twice keeps the first time");

    assert!(accounts::issue_key(&store, &id, "x", Action::ALL, &["not-an-ip".into()], &[]).await.is_err());
    assert!(accounts::issue_key(&store, "nosuchacct", "x", Action::ALL, &[], &[]).await.is_err());
    assert!(store.revoke_key(&id, "0000").await.is_err(), "revoking an unknown key is an error");
}

#[tokio::test]
async fn rate_counters_count_per_window_and_stop_at_their_cap() {
    let store = store().await;
    let w = window(1_000_020);
    for expected in 1..=3 {
        assert_eq!(store.hit_rate(RateSubject::Ip("203.0.113.9"), &w, Some(2)).await.ok(), Some(expected));
    }
    // Past the cap (2) the count stays at 3, however many more come.
    for _ in 0..3 {
        assert_eq!(store.hit_rate(RateSubject::Ip("203.0.113.9"), &w, Some(2)).await.ok(), Some(3));
    }
    let next = window(1_000_020 + 60);
    assert_eq!(store.hit_rate(RateSubject::Ip("203.0.113.9"), &next, None).await.ok(), Some(1));

    // A key is counted on its own item: one that does not exist writes nothing.
    let acct = account(&store).await;
    let (k, _) = accounts::issue_key(&store, &acct, "k", Action::ALL, &[], &[]).await.expect("key");
    let hash = kobo_shared::domain::apikey::parse(&k.secret).map(|p| p.hash).unwrap_or_default();
    for expected in 1..=3 {
        assert_eq!(store.hit_key_rate(&acct, &hash, &w, Some(2)).await.ok(), Some(expected));
    }
    assert_eq!(store.hit_key_rate(&acct, &hash, &w, Some(2)).await.ok(), Some(3), "stopped at the cap");
    assert_eq!(store.hit_key_rate(&acct, &hash, &next, Some(2)).await.ok(), Some(1), "a new window starts over");
    assert_eq!(store.hit_key_rate(&acct, &"0".repeat(64), &w, None).await.ok(), Some(0));
    assert_eq!(store.hit_key_rate("nosuchacct", &"0".repeat(64), &w, None).await.ok(), Some(0));
    let strays = store.query(&kobo_shared::db::Query::partition(format!("ACCOUNT#{}", "nosuchacct"))).await;
    assert_eq!(strays.map(|v| v.len()).ok(), Some(0), "nothing was written for the unknown key");
}

#[tokio::test]
async fn accounts_need_an_existing_plan_and_unique_ids() {
    let store = store().await;
    let bad = accounts::create_account(
        &store,
        NewAccount { name: "X".into(), plan_id: "nope".into(), email: None, phone: None, api_active: true, id: None },
    )
    .await;
    assert!(matches!(bad, Err(OpsError::Invalid(_))));
    let new = |id: &str| NewAccount {
        name: "X".into(),
        plan_id: "basic".into(),
        email: None,
        phone: None,
        api_active: false,
        id: Some(id.into()),
    };
    assert!(accounts::create_account(&store, new("fixed1")).await.is_ok());
    assert!(accounts::create_account(&store, new("fixed1")).await.is_err(), "ids are unique");
    assert!(accounts::create_account(&store, new("bad id!")).await.is_err());
    let listed = store.list_accounts().await.unwrap_or_default();
    assert_eq!(listed.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["fixed1"]);
}

/// Defect 10: a cancelled transaction says which conditions failed by the names of its
/// items, whatever their order: adding or moving an item cannot change what a failure
/// means (before, callers read `failed.contains(&4)`).
#[tokio::test]
async fn transaction_failures_are_named_whatever_the_order_of_items() {
    use kobo_shared::db::item::Key;
    use kobo_shared::db::table::Change;
    use kobo_shared::db::{Tx, TxError};
    let store = store().await;
    let taken = Key::new("TXTEST", format!("taken-{}", kobo_tests::unique()));
    store.put(taken.item()).await.expect("storing the taken item");
    for flip in [false, true] {
        let free = Key::new("TXTEST", format!("free-{}", kobo_tests::unique()));
        let (new_item, touch) =
            (taken.item(), Change::new().set("n", aws_sdk_dynamodb::types::AttributeValue::N("1".into())));
        let tx = if flip {
            Tx::new(&store).update("touch", &free, touch).and_then(|t| t.put_new("claim", new_item))
        } else {
            Tx::new(&store).put_new("claim", new_item).and_then(|t| t.update("touch", &free, touch))
        }
        .expect("building the transaction");
        match tx.commit().await {
            Err(e @ TxError::ConditionFailed(_)) => {
                assert!(e.failed("claim"), "{e:?}");
                assert!(!e.failed("touch"), "{e:?}");
            }
            other => panic!("expected the claim's condition to fail by name, got {other:?}"),
        }
        assert!(store.get_item(&free, true).await.expect("reading").is_none(), "a cancelled transaction wrote nothing");
    }
}

/// Money review finding 8: an operator's credit or debit takes an idempotency reference
/// (given, or derived from account, direction, amount and reason and printed): running
/// the same command again — after an answer that left it unclear whether it applied —
/// applies it at most once, however many runs race; another reference applies again.
/// Before the fix every run credited.
#[tokio::test]
async fn an_operator_adjustment_run_again_with_its_reference_applies_once() {
    use kobo_shared::flows::accounts::Adjusted;
    let store = store().await;
    let id = account(&store).await;
    let amount = Kobo::naira(250);
    let reference = accounts::derived_reference(&id, Direction::Credit, amount, "goodwill");
    assert_eq!(reference, accounts::derived_reference(&id, Direction::Credit, amount, " goodwill "));
    assert_ne!(reference, accounts::derived_reference(&id, Direction::Debit, amount, "goodwill"));
    let runs: Vec<_> = (0..5)
        .map(|_| {
            let (store, id, reference) = (store.clone(), id.clone(), reference.clone());
            tokio::spawn(async move {
                accounts::adjust_once(&store, &id, Direction::Credit, amount, "goodwill", "operator", &reference).await
            })
        })
        .collect();
    let mut applied = Vec::new();
    let mut already = Vec::new();
    for r in runs {
        match r.await {
            Ok(Ok(Adjusted::Applied(e))) => applied.push(e),
            Ok(Ok(Adjusted::AlreadyApplied(e))) => already.push(e),
            other => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!((applied.len(), already.len()), (1, 4), "{applied:?} {already:?}");
    assert!(already.iter().all(|e| e.id == applied[0].id), "a re-run reads what the first run did");
    assert_eq!(applied[0].reference.as_deref(), Some(format!("adjust:{reference}").as_str()));
    assert_eq!(store.balance(&id).await.ok().flatten(), Some(amount));
    // Another reference is another adjustment; a debit's reference guards it the same way.
    let second = accounts::adjust_once(&store, &id, Direction::Credit, amount, "goodwill", "operator", "ticket-42")
        .await
        .expect("a second credit");
    assert!(matches!(second, Adjusted::Applied(_)), "{second:?}");
    for _ in 0..2 {
        accounts::adjust_once(&store, &id, Direction::Debit, Kobo::naira(100), "fee", "operator", "fee-1")
            .await
            .expect("a debit");
    }
    assert_eq!(store.balance(&id).await.ok().flatten(), Some(Kobo::naira(400)));
    assert!(matches!(
        accounts::adjust_once(&store, &id, Direction::Credit, amount, "r", "operator", "bad ref!").await,
        Err(OpsError::Invalid(_))
    ));
    let acct = store.get_account(&id).await.ok().flatten().unwrap_or_else(|| panic!("account gone"));
    let check = accounts::check_ledger(&store, &acct).await.expect("checking the ledger");
    assert!(check.ok() && check.entries == 3, "{check:?}");
}
