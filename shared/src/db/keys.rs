//! Every DynamoDB key kobo builds, in one place, with the access pattern each serves.
//!
//! One table, string keys `PK`/`SK`, generic index `GSI1` (`GSI1PK`/`GSI1SK`), TTL on
//! `expires_at`, streams on.
//!
//! | item            | PK                    | SK                  | GSI1PK / GSI1SK                 | access pattern |
//! |-----------------|-----------------------|---------------------|---------------------------------|----------------|
//! | account         | `ACCOUNT#<id>`        | `PROFILE`           | `ACCOUNTS` / `<created>#<id>`   | auth (with key, one BatchGetItem); list accounts |
//! | API key         | `ACCOUNT#<id>`        | `KEY#<sha256 hex>`  | –                               | auth by key hash; list an account's keys (begins_with `KEY#`) |
//! | ledger entry    | `ACCOUNT#<id>`        | `LEDGER#<uuid v7>`  | –                               | an account's ledger in time order |
//! | operator adjustment | `ACCOUNT#<id>`    | `ADJUST#<reference>` | –                              | a credit or debit applies at most once per reference (created in its transaction; a re-run reads what it did) |
//! | plan            | `PLAN`                | `PLAN#<id>`         | –                               | all plans in one Query (cached per container) |
//! | rate window     | `RATE#KEY#<hash>` or `RATE#IP#<ip>` | `W#<window start, unix s>` | – | one atomic ADD per request; expires by TTL |
//! | SMM service     | `SERVICE`             | `SERVICE#<id, 10 digits>` | –                         | the catalog in one Query; `add` reads one |
//! | SMM order       | `ACCOUNT#<id>`        | `ORDER#<id, 12 digits>` | `ORDERS#OPEN` / `<updated>#<id>` while not final (sparse) | status by id, owner only; the reconciler's open orders |
//! | refill          | `ACCOUNT#<id>`        | `REFILL#<id, 12 digits>` | –                              | refill_status by id, owner only |
//! | counter         | `COUNTER`             | `<name>`            | –                               | numeric ids from one atomic ADD |
//! | idempotency     | `ACCOUNT#<id>`        | `IDEM#<sha256 of key>` | –                            | replay a spend's first answer; expires by TTL (24 h) |
//! | webhook endpoint | `ACCOUNT#<id>`       | `WEBHOOK#<endpoint id>` | –                           | the account's endpoints in one Query (relay, portal) |
//! | delivery        | `ACCOUNT#<id>`        | `DELIVERY#<event id>#<endpoint id>` | –               | created once per event and endpoint (conditional put); claimed per attempt |
//! | attempt log     | `HOOKLOG#<endpoint id>` | `ATTEMPT#<time>#<uuid>` | –                         | an endpoint's attempts, newest first; expires by TTL (30 days) |
//! | VTU catalog     | `VTU`                 | `PLAN#<id>`, `FACE#<category>#<service>` or `ROUTE#<category>#<service or *>` | – | the whole catalog (plans, face products, provider routes) in one Query (cached per container) |
//! | VTU transaction | `ACCOUNT#<id>`        | `VTU#<trx>`         | `VTU#PROCESSING` / `<created>#<trx>` while processing, then `VTU#WATCH` / `<next check>#<trx>` while delivered and still checked for a reversal (sparse) | vtu_status by trx, owner only; callbacks (passthrough carries account and trx); reconciler requery and reversal checks |
//! | VTU trx pointer | `VTUTRX#<trx>`        | `VTU`               | –                               | a provider callback naming only the purchase (VTpass's `requestId`) finds its account; written with the purchase |
//! | VTU request id  | `ACCOUNT#<id>`        | `VTUREQ#<sha256 of key>` | –                          | vtu_status by the purchase's own `request_id`, owner only (kept as long as the transaction) |
//! | exam profile    | `ACCOUNT#<id>`        | `EXAM#<exam>#<profile id>` | –                     | a JAMB purchase needs the profile verified by the same account; expires by TTL (24 h) |
//! | deposit         | `ACCOUNT#<id>`        | `DEPOSIT#<dep id>`  | `DEPOSIT#PENDING` / `<created>#<id>` until its paylink exists (sparse) | deposit_status; Hubtel's callback (its URL names account and deposit) |
//! | withdrawal      | `ACCOUNT#<id>`        | `WITHDRAWAL#<wdr id>` | `WITHDRAWAL#PENDING` (awaiting approval) or `WITHDRAWAL#PAYING` (approved, unsettled) / `<created>#<id>` | status; operator approval queue; Hubtel's callback |
//! | OTP session     | `ACCOUNT#<id>`        | `OTP#<otp id>`      | –                               | withdrawal OTP check; expires by TTL |
//! | SMS notice      | `SMSQ`                | `<uuid v7>`         | –                               | queued notices, oldest first; taken off by a conditional delete before sending |
//! | operator alert  | `ALERT`               | `<subject>`, e.g. `vtu:<trx>/<kind>` | –                     | `kobo alerts`: what kobo cannot settle alone, one per thing and kind |
//! | catalog versions | `CATALOG`            | `VERSION`           | –                               | read in every authentication wave (with key and account): the container's SMM, VTU and plan caches reload when their counter moved |
//! | portal login  | `LOGIN#<email>`        | `LOGIN`             | –                               | sign-in by email (unique: created with the account in one transaction) |
//! | portal session | `ACCOUNT#<id>`       | `SESSION#<sha256 of token>` | –                       | the cookie names account and token: one consistent BatchGetItem with the account; sign out everywhere queries `SESSION#`; expires by TTL |
//! | portal OTP    | `ACCOUNT#<id>`        | `POTP#<purpose>`    | –                               | phone verification and password reset codes; expires by TTL |
//! | access request | `ACCOUNT#<id>`       | `ACCESS#<acr id>`   | `ACCESS#PENDING` / `<created>#<id>` while pending (sparse) | the account's requests; the operator's queue |
//! | open access request | `ACCOUNT#<id>`  | `ACCESSOPEN`        | –                               | at most one pending request per account (created and removed in the request's transactions) |
//! | refused requests | `ACCOUNT#<id>`     | `REFUSED#<minute>#<check>#<ip>` | –                   | the portal's "why was my request refused?", newest first; expires by TTL (7 days) |
//! | outbox event    | `EVENT#<uuid v7>`     | `EVENT`             | –                               | written in the business transaction; the stream carries it to `relay` |

/// Partition of the catalog versions item.
pub const CATALOG_VERSION_PK: &str = "CATALOG";

/// Sort key of the catalog versions item: one counter per cached catalog (`smm`, `vtu`,
/// `plans`), bumped by every write to it, read in the authentication wave so a cache is
/// never served after an operator change.
pub const CATALOG_VERSION_SK: &str = "VERSION";

/// Partition key of a portal login, by normalized email.
pub fn login_pk(email: &str) -> String {
    format!("LOGIN#{email}")
}

/// Sort key of a portal login.
pub const LOGIN_SK: &str = "LOGIN";

/// Sort-key prefix of portal sessions under an account.
pub const SESSION_SK_PREFIX: &str = "SESSION#";

/// Sort key of a portal session, by the hex SHA-256 of its token.
pub fn session_sk(token_hash: &str) -> String {
    format!("{SESSION_SK_PREFIX}{token_hash}")
}

/// Sort key of a portal OTP.
pub fn portal_otp_sk(purpose: &str) -> String {
    format!("POTP#{purpose}")
}

/// Sort-key prefix of API access requests under an account.
pub const ACCESS_SK_PREFIX: &str = "ACCESS#";

/// Sort key of an API access request.
pub fn access_sk(id: &str) -> String {
    format!("{ACCESS_SK_PREFIX}{id}")
}

/// Sort key of the marker that an account has a pending access request.
pub const ACCESS_OPEN_SK: &str = "ACCESSOPEN";

/// GSI1 partition of pending access requests.
pub const PENDING_ACCESS_GSI1PK: &str = "ACCESS#PENDING";

/// Sort-key prefix of refused API requests under an account.
pub const REFUSED_SK_PREFIX: &str = "REFUSED#";

/// Sort key of the refusals of one check from one IP in one minute.
pub fn refused_sk(window_start: i64, check: &str, ip: &str) -> String {
    format!("{REFUSED_SK_PREFIX}{window_start:012}#{check}#{ip}")
}

/// Partition of operator alerts.
pub const ALERT_PK: &str = "ALERT";

/// Partition key of everything owned by one account.
pub fn account_pk(account_id: &str) -> String {
    format!("ACCOUNT#{account_id}")
}

/// Sort key of the account's own item.
pub const ACCOUNT_SK: &str = "PROFILE";

/// GSI1 partition listing every account.
pub const ACCOUNTS_GSI1PK: &str = "ACCOUNTS";

/// GSI1 sort key of an account in the account list.
pub fn account_gsi1sk(created_at: &str, account_id: &str) -> String {
    format!("{created_at}#{account_id}")
}

/// Sort-key prefix of API keys under an account.
pub const KEY_SK_PREFIX: &str = "KEY#";

/// Sort key of an API key, by the hex SHA-256 of the full key.
pub fn key_sk(key_hash: &str) -> String {
    format!("{KEY_SK_PREFIX}{key_hash}")
}

/// Partition of the pointer from a VTU trx to its account (a provider's callback that
/// names only the purchase — VTpass's `requestId` — finds it by this).
pub fn vtu_trx_pk(trx: &str) -> String {
    format!("VTUTRX#{trx}")
}

/// Sort key of a VTU provider's float and low flag (in the VTU catalog partition).
pub fn vtu_provider_sk(provider: &str) -> String {
    format!("PROVIDER#{provider}")
}

/// Sort key of a VTU route (in the VTU catalog partition, so the catalog read carries it).
pub fn vtu_route_sk(category: &str, service: &str) -> String {
    format!("ROUTE#{category}#{}", service.to_ascii_lowercase())
}

/// Sort key of the marker of an operator's credit or debit made under `reference`.
pub fn adjustment_sk(reference: &str) -> String {
    format!("ADJUST#{reference}")
}

/// Sort-key prefix of ledger entries under an account.
pub const LEDGER_SK_PREFIX: &str = "LEDGER#";

/// Sort key of a ledger entry; entry ids are UUID v7, so the order is time order.
pub fn ledger_sk(entry_id: &str) -> String {
    format!("{LEDGER_SK_PREFIX}{entry_id}")
}

/// Partition of all plans.
pub const PLAN_PK: &str = "PLAN";

/// Sort key of a plan.
pub fn plan_sk(plan_id: &str) -> String {
    format!("PLAN#{plan_id}")
}

/// What a rate-limit window counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateSubject<'a> {
    /// Requests from one source IP, valid key or not.
    Ip(&'a str),
    /// Portal attempts of one kind (`signin`, `otp`, ...) by one IP or account.
    Portal(&'a str, &'a str),
}

/// Partition key of a rate-limit counter.
pub fn rate_pk(subject: RateSubject<'_>) -> String {
    match subject {
        RateSubject::Ip(ip) => format!("RATE#IP#{ip}"),
        RateSubject::Portal(kind, who) => format!("RATE#PORTAL#{kind}#{who}"),
    }
}

/// Sort key of the rate-limit window starting at `window_start` (unix seconds).
pub fn rate_sk(window_start: i64) -> String {
    format!("W#{window_start}")
}

/// Partition of the SMM catalog.
pub const SERVICE_PK: &str = "SERVICE";

/// Sort key of an SMM service.
pub fn service_sk(service_id: u64) -> String {
    format!("SERVICE#{service_id:010}")
}

/// Sort-key prefix of SMM orders under an account.
pub const ORDER_SK_PREFIX: &str = "ORDER#";

/// Sort key of an SMM order under its account.
pub fn order_sk(order_id: u64) -> String {
    format!("{ORDER_SK_PREFIX}{order_id:012}")
}

/// GSI1 partition of orders that are not final yet (removed when final).
pub const OPEN_ORDERS_GSI1PK: &str = "ORDERS#OPEN";

/// GSI1 sort key of an open order: oldest update first.
pub fn open_order_gsi1sk(updated_at: &str, order_id: u64) -> String {
    format!("{updated_at}#{order_id:012}")
}

/// Sort key of a refill under its account.
pub fn refill_sk(refill_id: u64) -> String {
    format!("REFILL#{refill_id:012}")
}

/// Partition of the id counters.
pub const COUNTER_PK: &str = "COUNTER";

/// Sort key of the idempotency record of a key (hashed, so any key text is safe).
pub fn idem_sk(key_hash: &str) -> String {
    format!("IDEM#{key_hash}")
}

/// Sort-key prefix of webhook endpoints under an account.
pub const WEBHOOK_SK_PREFIX: &str = "WEBHOOK#";

/// Sort key of a webhook endpoint.
pub fn webhook_sk(endpoint_id: &str) -> String {
    format!("{WEBHOOK_SK_PREFIX}{endpoint_id}")
}

/// Sort key of a delivery under its account.
pub fn delivery_sk(delivery_id: &str) -> String {
    format!("DELIVERY#{delivery_id}")
}

/// Partition of an endpoint's attempt log.
pub fn hooklog_pk(endpoint_id: &str) -> String {
    format!("HOOKLOG#{endpoint_id}")
}

/// Sort key of one attempt: time first, so a reverse Query is newest first.
pub fn attempt_sk(at: &str, unique: &str) -> String {
    format!("ATTEMPT#{at}#{unique}")
}

/// Partition of the VTU catalog.
pub const VTU_CATALOG_PK: &str = "VTU";

/// Sort key of a fixed-price VTU plan.
pub fn vtu_plan_sk(plan_id: u64) -> String {
    format!("PLAN#{plan_id:06}")
}

/// Sort key of a face-value VTU product.
pub fn vtu_face_sk(category: &str, service: &str) -> String {
    format!("FACE#{category}#{service}")
}

/// Sort key of a VTU transaction under its account.
pub fn vtu_sk(trx: &str) -> String {
    format!("VTU#{trx}")
}

/// GSI1 partition of VTU transactions still processing (removed when settled).
pub const VTU_PROCESSING_GSI1PK: &str = "VTU#PROCESSING";

/// GSI1 partition of delivered VTU transactions the reconciler still asks the provider
/// about (a reversal), until their last check.
pub const VTU_WATCH_GSI1PK: &str = "VTU#WATCH";

/// Sort key of a watched transaction: when its next check is due (unix seconds, 12
/// digits, so string order is time order), then the trx.
pub fn vtu_watch_gsi1sk(due: i64, trx: &str) -> String {
    format!("{due:012}#{trx}")
}

/// Upper bound (exclusive) of the watch sort keys due at `now`.
pub fn vtu_watch_due_before(now: i64) -> String {
    format!("{:012}", now.saturating_add(1))
}

/// Sort key of the pointer from a purchase's idempotency key (`request_id`) to its trx.
pub fn vtu_request_sk(key_hash: &str) -> String {
    format!("VTUREQ#{key_hash}")
}

/// Sort key of an exam candidate profile an account verified (JAMB).
pub fn profile_sk(exam: &str, profile_id: &str) -> String {
    format!("EXAM#{exam}#{profile_id}")
}

/// Sort key of a deposit under its account.
pub fn deposit_sk(deposit_id: &str) -> String {
    format!("DEPOSIT#{deposit_id}")
}

/// GSI1 partition of deposits waiting for their paylink (removed once it exists).
pub const PENDING_DEPOSITS_GSI1PK: &str = "DEPOSIT#PENDING";

/// Sort key of a withdrawal under its account.
pub fn withdrawal_sk(id: &str) -> String {
    format!("WITHDRAWAL#{id}")
}

/// GSI1 partition of withdrawals waiting for an operator.
pub const PENDING_WITHDRAWALS_GSI1PK: &str = "WITHDRAWAL#PENDING";

/// GSI1 partition of withdrawals whose OTP is still to be checked.
pub const VERIFYING_WITHDRAWALS_GSI1PK: &str = "WITHDRAWAL#VERIFYING";

/// GSI1 partition of withdrawals being paid (approved, not yet paid or failed).
pub const PAYING_WITHDRAWALS_GSI1PK: &str = "WITHDRAWAL#PAYING";

/// GSI1 partition of OTPs queued while Hubtel was busy.
pub const QUEUED_OTPS_GSI1PK: &str = "OTP#QUEUED";

/// Sort key of an OTP session under its account.
pub fn otp_sk(id: &str) -> String {
    format!("OTP#{id}")
}

/// Partition of queued SMS notices.
pub const SMS_QUEUE_PK: &str = "SMSQ";

/// Partition key of an outbox event.
pub fn event_pk(event_id: &str) -> String {
    format!("EVENT#{event_id}")
}

/// Sort key of an outbox event.
pub const EVENT_SK: &str = "EVENT";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable() {
        assert_eq!(account_pk("abc"), "ACCOUNT#abc");
        assert_eq!(key_sk("ff"), "KEY#ff");
        assert_eq!(ledger_sk("0190"), "LEDGER#0190");
        assert_eq!(rate_pk(RateSubject::Ip("127.0.0.1")), "RATE#IP#127.0.0.1");
        assert_eq!(rate_sk(60), "W#60");
        assert_eq!(plan_sk("gold"), "PLAN#gold");
        assert_eq!(order_sk(42), "ORDER#000000000042");
        assert_eq!(service_sk(7), "SERVICE#0000000007");
    }
}
