//! The moto launcher (`cli/python/moto_serial.py`) through the real SDK: transactions
//! applied with an undo journal behave exactly as stock moto's table copy (same
//! cancellation reasons, same items, same stream) and stay all-or-nothing; stream trimming
//! never drops a record nobody has read; TTL-expired items are swept as AWS does.

use std::collections::HashMap;
use std::sync::OnceLock;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, ConditionCheck, Delete, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    Projection, ProjectionType, Put, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, StreamSpecification,
    StreamViewType, TimeToLiveSpecification, TransactWriteItem, Update,
};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use kobo_cli::devstack::moto::{launcher_stats, launcher_sweep, sdk_config_for};
use kobo_cli::devstack::Moto;
use kobo_tests::{launch_moto, moto_endpoint, unique};

type Item = HashMap<String, AttributeValue>;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn item(pk: &str, sk: &str, attrs: &[(&str, AttributeValue)]) -> Item {
    let mut m: Item = attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    m.insert("PK".into(), s(pk));
    m.insert("SK".into(), s(sk));
    m
}

fn key(pk: &str, sk: &str) -> Item {
    item(pk, sk, &[])
}

fn stock_endpoint() -> &'static str {
    static STOCK: OnceLock<(Moto, String)> = OnceLock::new();
    launch_moto(&STOCK, "stock", &["--stock"])
}

fn small_stream_endpoint() -> &'static str {
    static SMALL: OnceLock<(Moto, String)> = OnceLock::new();
    launch_moto(&SMALL, "small-stream", &["--keep-read", "5", "--trim-batch", "1000000"])
}

struct Db {
    endpoint: String,
    ddb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    table: String,
}

impl Db {
    /// A fresh table shaped like kobo's (PK/SK, stream with both images, TTL on
    /// `expires_at`) on the launcher at `endpoint`.
    async fn new(endpoint: &str) -> Db {
        let sdk = sdk_config_for(endpoint).await;
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        let table = format!("emu{}", unique());
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("building an attribute definition")
        };
        let ks = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .expect("building a key schema element")
        };
        ddb.create_table()
            .table_name(&table)
            .attribute_definitions(attr("PK"))
            .attribute_definitions(attr("SK"))
            .attribute_definitions(attr("GSI1PK"))
            .attribute_definitions(attr("GSI1SK"))
            .key_schema(ks("PK", KeyType::Hash))
            .key_schema(ks("SK", KeyType::Range))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name("GSI1")
                    .key_schema(ks("GSI1PK", KeyType::Hash))
                    .key_schema(ks("GSI1SK", KeyType::Range))
                    .projection(Projection::builder().projection_type(ProjectionType::All).build())
                    .build()
                    .expect("building the GSI"),
            )
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .expect("building the stream specification"),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create table: {e:?}"));
        ddb.update_time_to_live()
            .table_name(&table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .expect("building the TTL specification"),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("ttl: {e:?}"));
        Db { endpoint: endpoint.to_string(), ddb, streams: aws_sdk_dynamodbstreams::Client::new(&sdk), table }
    }

    async fn put(&self, it: Item) {
        self.ddb.put_item().table_name(&self.table).set_item(Some(it)).send().await.expect("PutItem succeeds");
    }

    async fn get(&self, pk: &str, sk: &str) -> Option<Item> {
        self.ddb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem succeeds")
            .item
    }

    /// Every item, in key order, as comparable text.
    async fn scan(&self) -> Vec<String> {
        let out = self.ddb.scan().table_name(&self.table).send().await.expect("Scan succeeds");
        let mut rows: Vec<String> = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|i| {
                let mut kv: Vec<String> = i.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                kv.sort();
                kv.join(",")
            })
            .collect();
        rows.sort();
        rows
    }

    async fn shard(&self) -> (String, String) {
        let arn = self
            .ddb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .ok()
            .and_then(|d| d.table)
            .and_then(|t| t.latest_stream_arn)
            .unwrap_or_else(|| panic!("no stream"));
        let shard = self
            .streams
            .describe_stream()
            .stream_arn(&arn)
            .send()
            .await
            .ok()
            .and_then(|d| d.stream_description)
            .and_then(|d| d.shards)
            .and_then(|s| s.into_iter().next())
            .and_then(|s| s.shard_id)
            .unwrap_or_else(|| panic!("no shard"));
        (arn, shard)
    }

    async fn iterator(&self, kind: ShardIteratorType, seq: Option<&str>) -> String {
        let (arn, shard) = self.shard().await;
        self.streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .set_sequence_number(seq.map(str::to_string))
            .send()
            .await
            .expect("GetShardIterator succeeds")
            .shard_iterator
            .unwrap_or_else(|| panic!("no iterator"))
    }

    /// Up to `limit` records from `iterator`: (event, PK, sequence number), and the next iterator.
    async fn read(&self, iterator: &str, limit: i32) -> (Vec<(String, String, u128)>, Option<String>) {
        let out =
            self.streams.get_records().shard_iterator(iterator).limit(limit).send().await.expect("GetRecords succeeds");
        let records = out
            .records
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let d = r.dynamodb.unwrap_or_else(|| panic!("record without data"));
                let pk = d.keys.and_then(|k| k.get("PK").and_then(|v| v.as_s().ok()).cloned()).unwrap_or_default();
                let seq = d.sequence_number.and_then(|x| x.parse().ok()).unwrap_or_default();
                (r.event_name.map(|e| e.as_str().to_string()).unwrap_or_default(), pk, seq)
            })
            .collect();
        (records, out.next_shard_iterator)
    }

    /// The whole stream from its trim horizon: (event, PK), in order.
    async fn stream(&self) -> Vec<(String, String)> {
        let it = self.iterator(ShardIteratorType::TrimHorizon, None).await;
        self.read(&it, 1000).await.0.into_iter().map(|(e, pk, _)| (e, pk)).collect()
    }

    /// This table's line of the launcher's stats.
    async fn stats(&self) -> serde_json::Value {
        let v = launcher_stats(&self.endpoint).await.expect("reading the launcher's stats");
        v["tables"][&self.table].clone()
    }
}

/// A transaction's outcome as comparable text: `ok`, the cancellation reasons, or the
/// error code.
async fn run(db: &Db, ops: &[Op]) -> String {
    let items: Vec<TransactWriteItem> = ops.iter().map(|o| o.build(&db.table)).collect();
    match db.ddb.transact_write_items().set_transact_items(Some(items)).send().await {
        Ok(_) => "ok".into(),
        Err(e) => match e.into_service_error() {
            TransactWriteItemsError::TransactionCanceledException(c) => {
                let reasons: Vec<String> = c
                    .cancellation_reasons()
                    .iter()
                    .map(|r| {
                        let mut old: Vec<String> =
                            r.item().map(|i| i.iter().map(|(k, v)| format!("{k}={v:?}")).collect()).unwrap_or_default();
                        old.sort();
                        format!("{}|{}|{}", r.code().unwrap_or("-"), r.message().unwrap_or("-"), old.join(","))
                    })
                    .collect();
                format!("cancelled: {}", reasons.join(" ; "))
            }
            other => format!("error: {}", other.code().unwrap_or("?")),
        },
    }
}

/// One operation of a transaction, written once and built for any table.
#[derive(Clone)]
enum Op {
    Put(Item, Option<&'static str>, Vec<(&'static str, AttributeValue)>),
    Update(Item, &'static str, Option<&'static str>, Vec<(&'static str, AttributeValue)>, bool),
    Delete(Item, Option<&'static str>, Vec<(&'static str, AttributeValue)>),
    Check(Item, &'static str, Vec<(&'static str, AttributeValue)>, bool),
}

fn values(v: &[(&'static str, AttributeValue)]) -> Option<HashMap<String, AttributeValue>> {
    let m: HashMap<String, AttributeValue> = v.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    (!m.is_empty()).then_some(m)
}

fn names(expr: &str) -> Option<HashMap<String, String>> {
    expr.contains("#st").then(|| HashMap::from([("#st".to_string(), "status".to_string())]))
}

impl Op {
    fn build(&self, table: &str) -> TransactWriteItem {
        let all_old = |yes: bool| yes.then_some(ReturnValuesOnConditionCheckFailure::AllOld);
        let b = TransactWriteItem::builder();
        let built = match self {
            Op::Put(it, cond, v) => b.put(
                Put::builder()
                    .table_name(table)
                    .set_item(Some(it.clone()))
                    .set_condition_expression(cond.map(str::to_string))
                    .set_expression_attribute_names(cond.and_then(names))
                    .set_expression_attribute_values(values(v))
                    .build()
                    .expect("building a transaction Put"),
            ),
            Op::Update(k, upd, cond, v, old) => b.update(
                Update::builder()
                    .table_name(table)
                    .set_key(Some(k.clone()))
                    .update_expression(*upd)
                    .set_condition_expression(cond.map(str::to_string))
                    .set_expression_attribute_names(names(&format!("{upd} {}", cond.unwrap_or(""))))
                    .set_expression_attribute_values(values(v))
                    .set_return_values_on_condition_check_failure(all_old(*old))
                    .build()
                    .expect("building a transaction Update"),
            ),
            Op::Delete(k, cond, v) => b.delete(
                Delete::builder()
                    .table_name(table)
                    .set_key(Some(k.clone()))
                    .set_condition_expression(cond.map(str::to_string))
                    .set_expression_attribute_names(cond.and_then(names))
                    .set_expression_attribute_values(values(v))
                    .build()
                    .expect("building a transaction Delete"),
            ),
            Op::Check(k, cond, v, old) => b.condition_check(
                ConditionCheck::builder()
                    .table_name(table)
                    .set_key(Some(k.clone()))
                    .condition_expression(*cond)
                    .set_expression_attribute_names(names(cond))
                    .set_expression_attribute_values(values(v))
                    .set_return_values_on_condition_check_failure(all_old(*old))
                    .build()
                    .expect("building a transaction ConditionCheck"),
            ),
        };
        built.build()
    }
}

/// Items every case starts from: an account, a ledger entry, an order, a delivery, a
/// deposit, a throttle item.
fn seed() -> Vec<Item> {
    vec![
        item("ACCT#a", "PROFILE", &[("balance", n(10_000)), ("min_balance", n(0))]),
        item("ACCT#a", "LEDGER#1", &[("amount", n(-500))]),
        item(
            "ACCT#a",
            "ORDER#1",
            &[("status", s("processing")), ("refunded", n(0)), ("start_count", n(0)), ("remains", n(100))],
        ),
        item("DLV#1", "DLV", &[("status", s("sending")), ("attempts", n(1)), ("claim_until", n(2_000))]),
        item("ACCT#a", "DEP#1", &[("status", s("credited")), ("used", AttributeValue::Bool(false))]),
        item("THROTTLE", "HUBTEL", &[("version", n(3))]),
    ]
}

/// The debit every money transaction carries, with the account's condition.
fn debit(need: i64) -> Op {
    Op::Update(
        key("ACCT#a", "PROFILE"),
        "SET balance = balance - :need",
        Some("attribute_exists(PK) AND balance >= :need"),
        vec![(":need", n(need))],
        false,
    )
}

fn ledger(sk: &'static str) -> Op {
    Op::Put(item("ACCT#a", sk, &[("amount", n(-100))]), Some("attribute_not_exists(PK)"), vec![])
}

fn outbox(id: &str) -> Op {
    Op::Put(item(&format!("OUTBOX#{id}"), "EVENT", &[("event", s("order.created"))]), None, vec![])
}

/// Named cases: each condition kind kobo's transactions use, failing and passing.
fn cases() -> Vec<(&'static str, Vec<Op>)> {
    vec![
        (
            "all conditions hold",
            vec![
                debit(100),
                ledger("LEDGER#2"),
                outbox("1"),
                Op::Delete(key("THROTTLE", "HUBTEL"), Some("version = :v"), vec![(":v", n(3))]),
            ],
        ),
        ("attribute_not_exists(PK) on an existing item", vec![debit(100), ledger("LEDGER#1"), outbox("2")]),
        (
            "attribute_exists(PK) on a missing item",
            vec![
                outbox("3"),
                Op::Update(
                    key("ACCT#nobody", "PROFILE"),
                    "SET balance = balance - :need",
                    Some("attribute_exists(PK) AND balance >= :need"),
                    vec![(":need", n(1))],
                    false,
                ),
            ],
        ),
        ("balance >= :need short by one kobo", vec![ledger("LEDGER#2"), debit(10_001), outbox("4")]),
        (
            "balance and min_balance = :min",
            vec![
                Op::Update(
                    key("ACCT#a", "PROFILE"),
                    "SET balance = balance - :need",
                    Some("attribute_exists(PK) AND balance >= :need AND min_balance = :min"),
                    vec![(":need", n(100)), (":min", n(500))],
                    false,
                ),
                ledger("LEDGER#2"),
            ],
        ),
        (
            "#st = :from with ALL_OLD",
            vec![
                Op::Update(
                    key("ACCT#a", "ORDER#1"),
                    "SET #st = :to",
                    Some("#st = :from"),
                    vec![(":from", s("pending")), (":to", s("cancelled"))],
                    true,
                ),
                Op::Update(key("ACCT#a", "PROFILE"), "SET balance = balance + :r", None, vec![(":r", n(500))], false),
                ledger("LEDGER#3"),
            ],
        ),
        (
            "refund guard: status, refunded, start_count and remains",
            vec![
                Op::Update(
                    key("ACCT#a", "ORDER#1"),
                    "SET #st = :new, refunded = :r",
                    Some("#st = :old AND refunded = :zero AND start_count = :osc AND remains = :orem"),
                    vec![
                        (":new", s("partial")),
                        (":r", n(40)),
                        (":old", s("processing")),
                        (":zero", n(0)),
                        (":osc", n(0)),
                        (":orem", n(99)),
                    ],
                    false,
                ),
                ledger("LEDGER#4"),
            ],
        ),
        (
            "#st <> :credited",
            vec![
                Op::Update(
                    key("ACCT#a", "DEP#1"),
                    "SET #st = :credited",
                    Some("#st <> :credited"),
                    vec![(":credited", s("credited"))],
                    false,
                ),
                Op::Update(key("ACCT#a", "PROFILE"), "SET balance = balance + :a", None, vec![(":a", n(5_000))], false),
            ],
        ),
        (
            "used = :f",
            vec![
                Op::Update(
                    key("ACCT#a", "DEP#1"),
                    "SET used = :t",
                    Some("used = :f"),
                    vec![(":f", AttributeValue::Bool(true)), (":t", AttributeValue::Bool(true))],
                    false,
                ),
                outbox("5"),
            ],
        ),
        (
            "PK = :pk AND begins_with(SK, :p) on delete",
            vec![
                outbox("6"),
                Op::Delete(
                    key("ACCT#a", "KEY#missing"),
                    Some("PK = :pk AND begins_with(SK, :p)"),
                    vec![(":pk", s("ACCT#a")), (":p", s("KEY#"))],
                ),
            ],
        ),
        (
            "claim: attempts and (pending or an expired sending claim)",
            vec![
                Op::Update(
                    key("DLV#1", "DLV"),
                    "SET #st = :sending, attempts = attempts + :one, claim_until = :until",
                    Some("attempts = :prev AND (#st = :pending OR (#st = :sending AND claim_until < :now))"),
                    vec![
                        (":prev", n(1)),
                        (":pending", s("pending")),
                        (":sending", s("sending")),
                        (":now", n(1_000)),
                        (":one", n(1)),
                        (":until", n(9_000)),
                    ],
                    false,
                ),
                outbox("7"),
            ],
        ),
        (
            "a condition check fails",
            vec![debit(100), Op::Check(key("THROTTLE", "HUBTEL"), "version = :v", vec![(":v", n(4))], true)],
        ),
        (
            "two conditions fail",
            vec![
                ledger("LEDGER#1"),
                debit(1),
                Op::Check(key("ACCT#b", "PROFILE"), "attribute_exists(PK)", vec![], false),
            ],
        ),
        (
            "the same item twice",
            vec![
                debit(1),
                Op::Update(key("ACCT#a", "PROFILE"), "SET balance = balance + :a", None, vec![(":a", n(1))], false),
            ],
        ),
    ]
}

#[tokio::test]
async fn journaled_transactions_answer_exactly_as_stock_moto_and_are_all_or_nothing() {
    for (name, ops) in cases() {
        let mut outcomes = Vec::new();
        for endpoint in [moto_endpoint(), stock_endpoint()] {
            let db = Db::new(endpoint).await;
            for it in seed() {
                db.put(it).await;
            }
            let (items_before, stream_before) = (db.scan().await, db.stream().await);
            let outcome = run(&db, &ops).await;
            let (items_after, stream_after) = (db.scan().await, db.stream().await);
            if outcome != "ok" {
                assert_eq!(items_after, items_before, "{name} ({endpoint}): a cancelled transaction changed items");
                assert_eq!(
                    stream_after, stream_before,
                    "{name} ({endpoint}): a cancelled transaction left stream records"
                );
            } else {
                let writes = ops.iter().filter(|o| !matches!(o, Op::Check(..))).count();
                assert_eq!(stream_after.len(), stream_before.len() + writes, "{name}: one record per write");
            }
            outcomes.push((outcome, items_after, stream_after));
        }
        let (ours, stock) = (&outcomes[0], &outcomes[1]);
        assert_eq!(ours.0, stock.0, "{name}: outcome differs from stock moto");
        assert_eq!(ours.1, stock.1, "{name}: items differ from stock moto");
        assert_eq!(ours.2, stock.2, "{name}: stream differs from stock moto");
    }
    // The cases cover both results, ALL_OLD images and a validation error.
    let db = Db::new(moto_endpoint()).await;
    for it in seed() {
        db.put(it).await;
    }
    let by_name: HashMap<_, _> = cases().into_iter().collect();
    assert_eq!(run(&db, &by_name["all conditions hold"]).await, "ok");
    let old = run(&db, &by_name["#st = :from with ALL_OLD"]).await;
    assert!(old.starts_with("cancelled: ConditionalCheckFailed|") && old.contains("status=S(\"processing\")"), "{old}");
    let two = run(&db, &by_name["two conditions fail"]).await;
    assert_eq!(two.matches("ConditionalCheckFailed").count(), 2, "{two}");
    assert_eq!(run(&db, &by_name["the same item twice"]).await, "error: ValidationException");
}

#[tokio::test]
async fn a_later_failure_undoes_earlier_writes_to_new_and_existing_items() {
    let db = Db::new(moto_endpoint()).await;
    for it in seed() {
        db.put(it).await;
    }
    let before = db.scan().await;
    // Creates a partition, changes an item, deletes one, then fails.
    let ops = vec![
        outbox("new"),
        debit(2_500),
        Op::Delete(key("ACCT#a", "LEDGER#1"), None, vec![]),
        Op::Update(
            key("ACCT#a", "ORDER#1"),
            "SET #st = :c",
            Some("#st = :from"),
            vec![(":from", s("pending")), (":c", s("cancelled"))],
            false,
        ),
    ];
    let out = run(&db, &ops).await;
    assert!(out.starts_with("cancelled: None|"), "{out}");
    assert_eq!(db.scan().await, before);
    assert!(db.get("OUTBOX#new", "EVENT").await.is_none());
    assert_eq!(db.get("ACCT#a", "PROFILE").await.and_then(|i| i.get("balance").cloned()), Some(n(10_000)));
    let stats = db.stats().await;
    assert_eq!(stats["items"], 6, "{stats}");
}

#[tokio::test]
async fn stream_trimming_keeps_every_record_nobody_has_read() {
    let db = Db::new(small_stream_endpoint()).await;
    for i in 0..30 {
        db.put(item(&format!("P{i:02}"), "X", &[])).await;
    }
    let it = db.iterator(ShardIteratorType::TrimHorizon, None).await;
    let (first, next) = db.read(&it, 10).await;
    assert_eq!(first.len(), 10);
    let first_seq = first[0].2;
    let last_seq = first[9].2;
    // (The launcher's periodic sweeper may trim first; the outcome is the same.)
    launcher_sweep(&db.endpoint, None).await.expect("sweeping the launcher");
    let stats = db.stats().await;
    assert_eq!((stats["stream_records"].as_u64(), stats["stream_trimmed"].as_u64()), (Some(20), Some(10)), "{stats}");

    // The reader goes on where it stopped: no gap, nothing lost.
    let (rest, next) = db.read(&next.unwrap_or_else(|| panic!("no next iterator")), 100).await;
    let pks: Vec<String> = rest.iter().map(|r| r.1.clone()).collect();
    assert_eq!(pks, (10..30).map(|i| format!("P{i:02}")).collect::<Vec<_>>());
    assert_eq!(rest[0].2, last_seq + 1);

    // Unread records survive a trim, however many there are below the cap.
    for i in 30..60 {
        db.put(item(&format!("P{i:02}"), "X", &[])).await;
    }
    launcher_sweep(&db.endpoint, None).await.expect("sweeping the launcher again");
    let stats = db.stats().await;
    assert_eq!(stats["stream_records"].as_u64(), Some(30), "only read records go: {stats}");
    let (more, _) = db.read(&next.unwrap_or_else(|| panic!("no next iterator")), 100).await;
    assert_eq!(
        more.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        (30..60).map(|i| format!("P{i:02}")).collect::<Vec<_>>()
    );

    // A trimmed position answers as AWS does; TRIM_HORIZON starts at the oldest kept record.
    let seq = first_seq.to_string();
    let stale = db.iterator(ShardIteratorType::AtSequenceNumber, Some(&seq)).await;
    let err = db.streams.get_records().shard_iterator(stale).send().await.err().map(|e| e.into_service_error());
    assert_eq!(err.as_ref().and_then(|e| e.code()), Some("TrimmedDataAccessException"), "{err:?}");
    let horizon = db.iterator(ShardIteratorType::TrimHorizon, None).await;
    let (h, _) = db.read(&horizon, 1).await;
    assert!(h[0].2 > last_seq, "the horizon moved past the trimmed records");

    // 24 hours on, every record is gone, read or not, as in DynamoDB Streams.
    let later = chrono::Utc::now().timestamp() + 25 * 3600;
    launcher_sweep(&db.endpoint, Some(later)).await.expect("sweeping the launcher a day later");
    assert_eq!(db.stats().await["stream_records"].as_u64(), Some(0));
}

#[tokio::test]
async fn ttl_expired_items_are_swept_with_a_remove_record() {
    let db = Db::new(moto_endpoint()).await;
    // The launcher's own sweeper may get there first; the outcome is the same.
    let now = chrono::Utc::now().timestamp();
    db.put(item("RATE#1", "W", &[("expires_at", n(now - 10))])).await;
    db.put(item("RATE#2", "W", &[("expires_at", n(now + 3600))])).await;
    db.put(item("RATE#3", "W", &[("expires_at", n(now - 6 * 365 * 24 * 3600))])).await;
    db.put(item("RATE#4", "W", &[("expires_at", s("soon"))])).await;
    db.put(item("RATE#5", "W", &[])).await;
    launcher_sweep(&db.endpoint, Some(now)).await.expect("sweeping the launcher");
    assert!(db.get("RATE#1", "W").await.is_none(), "expired: deleted");
    for kept in ["RATE#2", "RATE#3", "RATE#4", "RATE#5"] {
        assert!(db.get(kept, "W").await.is_some(), "{kept} kept (future, over five years old, not a number, none)");
    }
    let stream = db.stream().await;
    assert_eq!(stream.last(), Some(&("REMOVE".to_string(), "RATE#1".to_string())), "{stream:?}");
    assert_eq!(db.stats().await["items"], 4);
}

/// A query's pages as comparable text: each page's items (in order) and its last key.
async fn query_pages(
    db: &Db,
    index: Option<&str>,
    cond: &str,
    values: &[(&str, AttributeValue)],
    limit: Option<i32>,
    forward: bool,
) -> Vec<String> {
    let mut pages = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let mut q = db
            .ddb
            .query()
            .table_name(&db.table)
            .key_condition_expression(cond)
            .scan_index_forward(forward)
            .set_index_name(index.map(str::to_string))
            .set_limit(limit)
            .set_exclusive_start_key(start.take());
        for (k, v) in values {
            q = q.expression_attribute_values(*k, v.clone());
        }
        let out = q.send().await.unwrap_or_else(|e| panic!("{cond}: {e:?}"));
        let rows: Vec<String> =
            out.items.unwrap_or_default().iter().map(|i| format!("{:?}/{:?}", i.get("PK"), i.get("SK"))).collect();
        let mut last: Vec<String> =
            out.last_evaluated_key.iter().flatten().map(|(k, v)| format!("{k}={v:?}")).collect();
        last.sort();
        pages.push(format!("{} | last: {}", rows.join(" "), last.join(",")));
        match out.last_evaluated_key {
            Some(k) if pages.len() < 100 => start = Some(k),
            _ => break,
        }
    }
    pages
}

#[tokio::test]
async fn partition_queries_answer_exactly_as_stock_moto() {
    let mut answers = Vec::new();
    for endpoint in [moto_endpoint(), stock_endpoint()] {
        let db = Db::new(endpoint).await;
        for p in 0..4 {
            for i in 0..12 {
                let mut attrs = vec![("amount", n(i))];
                if i % 3 == 0 {
                    attrs.push(("GSI1PK", s(&format!("WAIT#{}", p % 2))));
                    attrs.push(("GSI1SK", s(&format!("{:02}#{p}", 12 - i))));
                }
                let sk = if i % 2 == 0 { format!("LEDGER#{i:03}") } else { format!("ORDER#{i:03}") };
                db.put(item(&format!("ACCT#{p}"), &sk, &attrs)).await;
            }
        }
        let mut a = Vec::new();
        for forward in [true, false] {
            for limit in [None, Some(1), Some(4)] {
                a.push(query_pages(&db, None, "PK = :pk", &[(":pk", s("ACCT#2"))], limit, forward).await);
                a.push(
                    query_pages(
                        &db,
                        None,
                        "PK = :pk AND begins_with(SK, :p)",
                        &[(":pk", s("ACCT#1")), (":p", s("LEDGER#"))],
                        limit,
                        forward,
                    )
                    .await,
                );
                a.push(
                    query_pages(
                        &db,
                        None,
                        "PK = :pk AND SK > :sk",
                        &[(":pk", s("ACCT#3")), (":sk", s("ORDER#005"))],
                        limit,
                        forward,
                    )
                    .await,
                );
                a.push(query_pages(&db, None, "PK = :pk", &[(":pk", s("ACCT#none"))], limit, forward).await);
                a.push(query_pages(&db, Some("GSI1"), "GSI1PK = :w", &[(":w", s("WAIT#1"))], limit, forward).await);
                a.push(
                    query_pages(
                        &db,
                        Some("GSI1"),
                        "GSI1PK = :w AND GSI1SK < :t",
                        &[(":w", s("WAIT#0")), (":t", s("07"))],
                        limit,
                        forward,
                    )
                    .await,
                );
            }
        }
        answers.push(a);
    }
    assert_eq!(answers[0].len(), answers[1].len());
    for (ours, stock) in answers[0].iter().zip(&answers[1]) {
        assert_eq!(ours, stock, "a query answered differently from stock moto");
    }
    // Sanity: the cases return something, in pages when limited.
    assert!(answers[0][0][0].contains("LEDGER#000"), "{:?}", answers[0][0]);
    assert!(answers[0][1][0].contains("LEDGER#010") && !answers[0][1][0].contains("ORDER#"), "{:?}", answers[0][1]);
    assert!(answers[0][6].len() >= 12, "limit 1 pages through all twelve items: {:?}", answers[0][6]);
}

/// `kobo soak` on a small run: every request answered, spends made, the emulator's numbers
/// read, and the ledger still summing to the balance.
#[tokio::test]
async fn a_short_soak_reports_what_it_measured() {
    let opts =
        kobo_cli::soak::SoakOptions { requests: 60, duration: None, concurrency: 4, stock_emulator: false, seed: 7 };
    let report = kobo_cli::soak::run(&kobo_tests::project(), opts).await.unwrap_or_else(|e| panic!("soak: {e:#}"));
    assert_eq!(report.requests, 60, "{report}");
    assert!(report.errors.is_empty(), "{report}");
    assert!(report.spends > 30 && report.spends <= 60, "about 80% of the mix spends: {report}");
    assert!(report.rss_start_mib > 0.0 && report.rss_end_mib > 0.0, "{report}");
    assert!(report.first_p50_ms > 0.0 && report.last_p50_ms > 0.0, "{report}");
    assert!(report.items_end > 60, "{report}");
    assert!(report.ledger_ok, "{report}");
}
