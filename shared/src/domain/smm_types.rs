//! The SMM panel API v2 service types: which fields an order of each type takes, how
//! they are checked, how many units it is charged for, and what goes upstream. Plain
//! functions over text fields; the API and the simulator's panel both read this table.
//!
//! | type | fields (besides `service`) | units charged |
//! |---|---|---|
//! | Default | `link`, `quantity`, optional `runs` + `interval` (drip-feed) | quantity × runs |
//! | Package | `link` | fixed price |
//! | Custom Comments | `link`, `comments` (one per line) | non-empty lines |
//! | Custom Comments Package | `link`, `comments` | fixed price |
//! | Mentions | `link`, `quantity`, `usernames` | quantity |
//! | Mentions with Hashtags | `link`, `quantity`, `usernames`, `hashtags` | quantity |
//! | Mentions Custom List | `link`, `usernames` (one per line) | non-empty lines |
//! | Mentions Hashtag | `link`, `quantity`, `hashtag` | quantity |
//! | Mentions User Followers | `link`, `quantity`, `username` | quantity |
//! | Mentions Media Likers | `link`, `quantity`, `media` | quantity |
//! | Comment Likes | `link`, `quantity`, `username` | quantity |
//! | Comment Replies | `link`, `username`, `comments` | non-empty lines |
//! | Poll | `link`, `quantity`, `answer_number` | quantity |
//! | Invites from Groups | `link`, `quantity`, `groups` | quantity |
//! | SEO | `link`, `quantity`, `keywords` | quantity |
//! | Subscriptions | `username`, `min`, `max`, `posts` and/or `old_posts`, `delay`, optional `expiry` | max × (posts + old_posts), held; the unused part released at the end |
//! | Web Traffic | `link`, `quantity`, `country`, `device`, `type_of_traffic`, `google_keyword` (traffic 1) / `referring_url` (traffic 2) | quantity |

use std::collections::BTreeMap;

use crate::domain::money::Kobo;
use crate::domain::smm::{charge, is_valid_link, Order, OrderStatus, Progress, Service};

/// An API v2 service type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceType {
    /// Link and quantity; drip-feed with `runs` and `interval` where the service allows.
    Default,
    /// A fixed package for a link.
    Package,
    /// One comment per line.
    CustomComments,
    /// A fixed package of the given comments.
    CustomCommentsPackage,
    /// Mentions of the given usernames.
    Mentions,
    /// Mentions of usernames with hashtags.
    MentionsWithHashtags,
    /// Mentions of a list of usernames, one per line.
    MentionsCustomList,
    /// Mentions of the users of a hashtag.
    MentionsHashtag,
    /// Mentions of a user's followers.
    MentionsUserFollowers,
    /// Mentions of a post's likers.
    MentionsMediaLikers,
    /// Likes on a user's comment.
    CommentLikes,
    /// Replies to a user's comment, one per line.
    CommentReplies,
    /// Votes for one answer of a poll.
    Poll,
    /// Invites from the given groups.
    InvitesFromGroups,
    /// Search traffic for the given keywords.
    Seo,
    /// Automatic delivery to a user's new (and/or old) posts.
    Subscriptions,
    /// Visits from a country, device and traffic source.
    WebTraffic,
}

/// How a type is priced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pricing {
    /// The service's rate per 1000 units.
    PerThousand,
    /// The service's rate is the price of one package.
    Fixed,
    /// Per 1000 units, the most it can cost held at order time; what was not delivered is
    /// released when it ends, whatever its end.
    Hold,
}

/// A field that is wrong, and why (the API answers `"<field> <problem>"`, 422).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl FieldError {
    fn new(field: &'static str, problem: impl Into<String>) -> FieldError {
        FieldError { field, problem: problem.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.field, self.problem)
    }
}

impl From<FieldError> for crate::error::ApiError {
    fn from(e: FieldError) -> crate::error::ApiError {
        crate::error::ApiError::field(e.field, e.problem)
    }
}

/// Every type, in the order of the table above.
pub const ALL_TYPES: [ServiceType; 17] = [
    ServiceType::Default,
    ServiceType::Package,
    ServiceType::CustomComments,
    ServiceType::CustomCommentsPackage,
    ServiceType::Mentions,
    ServiceType::MentionsWithHashtags,
    ServiceType::MentionsCustomList,
    ServiceType::MentionsHashtag,
    ServiceType::MentionsUserFollowers,
    ServiceType::MentionsMediaLikers,
    ServiceType::CommentLikes,
    ServiceType::CommentReplies,
    ServiceType::Poll,
    ServiceType::InvitesFromGroups,
    ServiceType::Seo,
    ServiceType::Subscriptions,
    ServiceType::WebTraffic,
];

/// Longest list field (comments, usernames, …), in lines.
pub const MAX_LINES: usize = 10_000;
/// Longest text of all of an order's fields together, in bytes (an order is one item).
pub const MAX_FIELDS_BYTES: usize = 64 * 1024;
/// Most drip-feed runs.
pub const MAX_RUNS: u64 = 1_000;
/// Longest drip-feed interval, in minutes (a week).
pub const MAX_INTERVAL: u64 = 10_080;
/// Most posts a subscription may cover (new and old together).
pub const MAX_POSTS: u64 = 1_000;
/// The delays (minutes) a subscription may wait before each post, as panels offer them.
pub const DELAYS: [u64; 7] = [0, 5, 10, 15, 30, 60, 90];

/// A type's own fields: `(name, required)`. `link` and `quantity` are not listed.
type Extras = &'static [(&'static str, bool)];

impl ServiceType {
    /// The name API v2 gives the type.
    pub const fn as_str(self) -> &'static str {
        match self {
            ServiceType::Default => "Default",
            ServiceType::Package => "Package",
            ServiceType::CustomComments => "Custom Comments",
            ServiceType::CustomCommentsPackage => "Custom Comments Package",
            ServiceType::Mentions => "Mentions",
            ServiceType::MentionsWithHashtags => "Mentions with Hashtags",
            ServiceType::MentionsCustomList => "Mentions Custom List",
            ServiceType::MentionsHashtag => "Mentions Hashtag",
            ServiceType::MentionsUserFollowers => "Mentions User Followers",
            ServiceType::MentionsMediaLikers => "Mentions Media Likers",
            ServiceType::CommentLikes => "Comment Likes",
            ServiceType::CommentReplies => "Comment Replies",
            ServiceType::Poll => "Poll",
            ServiceType::InvitesFromGroups => "Invites from Groups",
            ServiceType::Seo => "SEO",
            ServiceType::Subscriptions => "Subscriptions",
            ServiceType::WebTraffic => "Web Traffic",
        }
    }

    /// The type a panel's `type` names (case, spaces, `_` and `-` ignored); `None` for a
    /// type kobo does not know.
    pub fn parse(raw: &str) -> Option<ServiceType> {
        let squash = |s: &str| -> String {
            s.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
        };
        let want = squash(raw);
        ALL_TYPES.into_iter().find(|t| squash(t.as_str()) == want)
    }

    /// How the type is priced.
    pub const fn pricing(self) -> Pricing {
        match self {
            ServiceType::Package | ServiceType::CustomCommentsPackage => Pricing::Fixed,
            ServiceType::Subscriptions => Pricing::Hold,
            _ => Pricing::PerThousand,
        }
    }

    /// Whether an order names a `link` (all but subscriptions, which name a `username`).
    pub const fn takes_link(self) -> bool {
        !matches!(self, ServiceType::Subscriptions)
    }

    /// Whether the reseller states the `quantity` (otherwise it is derived or fixed).
    pub const fn takes_quantity(self) -> bool {
        !matches!(
            self,
            ServiceType::Package
                | ServiceType::CustomComments
                | ServiceType::CustomCommentsPackage
                | ServiceType::MentionsCustomList
                | ServiceType::CommentReplies
                | ServiceType::Subscriptions
        )
    }

    /// The list field whose non-empty lines are the quantity, for types priced by it.
    pub const fn counted_lines(self) -> Option<&'static str> {
        match self {
            ServiceType::CustomComments | ServiceType::CommentReplies => Some("comments"),
            ServiceType::MentionsCustomList => Some("usernames"),
            _ => None,
        }
    }

    /// The type's own fields, `(name, required)`.
    pub const fn extras(self) -> Extras {
        match self {
            ServiceType::Default | ServiceType::Package => &[],
            ServiceType::CustomComments | ServiceType::CustomCommentsPackage => &[("comments", true)],
            ServiceType::Mentions | ServiceType::MentionsCustomList => &[("usernames", true)],
            ServiceType::MentionsWithHashtags => &[("usernames", true), ("hashtags", true)],
            ServiceType::MentionsHashtag => &[("hashtag", true)],
            ServiceType::MentionsUserFollowers | ServiceType::CommentLikes => &[("username", true)],
            ServiceType::MentionsMediaLikers => &[("media", true)],
            ServiceType::CommentReplies => &[("username", true), ("comments", true)],
            ServiceType::Poll => &[("answer_number", true)],
            ServiceType::InvitesFromGroups => &[("groups", true)],
            ServiceType::Seo => &[("keywords", true)],
            ServiceType::Subscriptions => &[
                ("username", true),
                ("min", true),
                ("max", true),
                ("posts", false),
                ("old_posts", false),
                ("delay", true),
                ("expiry", false),
            ],
            ServiceType::WebTraffic => &[
                ("country", true),
                ("device", true),
                ("type_of_traffic", true),
                ("google_keyword", false),
                ("referring_url", false),
            ],
        }
    }

    /// Every field an order of this type must carry (for the docs and the 422 tests).
    pub fn required_fields(self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.takes_link() {
            out.push("link");
        }
        if self.takes_quantity() {
            out.push("quantity");
        }
        out.extend(self.extras().iter().filter(|(_, required)| *required).map(|(name, _)| *name));
        out
    }
}

/// The type of a catalog service, when kobo knows it.
pub fn service_type(service: &Service) -> Option<ServiceType> {
    ServiceType::parse(&service.kind)
}

/// A checked order: what it targets, what it is charged for and what goes upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderSpec {
    /// The link (or, for subscriptions, the username) delivered to.
    pub link: String,
    /// The quantity as API v2 knows it: stated, derived from lines, 1 for a package, the
    /// per-post maximum for a subscription.
    pub quantity: u64,
    /// What the order is charged for and refunded in: quantity × runs, the lines, 1 for a
    /// package, max × posts for a subscription.
    pub units: u64,
    /// Drip-feed runs.
    pub runs: Option<u64>,
    /// Drip-feed interval, minutes.
    pub interval: Option<u64>,
    /// The type's own fields, as given (trimmed; lists with blank lines dropped).
    pub extras: BTreeMap<String, String>,
}

/// What goes upstream in an `add` call besides `service` and the key: the fields the
/// type takes, and nothing else.
pub fn upstream_fields(
    kind: Option<ServiceType>,
    link: &str,
    quantity: u64,
    drip: Option<(u64, u64)>,
    extras: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let kind = kind.unwrap_or(ServiceType::Default);
    let mut out = Vec::new();
    if kind.takes_link() {
        out.push(("link".to_string(), link.to_string()));
    }
    if kind.takes_quantity() {
        out.push(("quantity".to_string(), quantity.to_string()));
    }
    if let Some((runs, interval)) = drip {
        out.push(("runs".to_string(), runs.to_string()));
        out.push(("interval".to_string(), interval.to_string()));
    }
    out.extend(extras.iter().map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// The price of `units` of a service at `rate` (per 1000, or per package): `None` on
/// overflow.
pub fn price(kind: Option<ServiceType>, rate: Kobo, units: u64) -> Option<Kobo> {
    match kind.map(ServiceType::pricing) {
        Some(Pricing::Fixed) => Some(rate),
        _ => charge(rate, units),
    }
}

/// What an order settled at a final status gives back, in its units: hold-priced orders
/// (subscriptions) release what was not delivered whatever the end; the others give all
/// back when cancelled or refunded and the undelivered part when partial. `units` is
/// what the remains are counted against: a fixed-price package's own size (see
/// [`package_size`]), else the order's units.
pub fn refund_for(kind: Option<ServiceType>, status: OrderStatus, charge: Kobo, units: u64, remains: u64) -> Kobo {
    use crate::domain::smm::partial_refund;
    if !status.is_final() {
        return Kobo::ZERO;
    }
    match (kind.map(ServiceType::pricing), status) {
        (Some(Pricing::Hold), _) => partial_refund(charge, units, remains),
        (_, OrderStatus::Cancelled | OrderStatus::Refunded) => charge,
        (_, OrderStatus::Partial) => partial_refund(charge, units, remains),
        _ => Kobo::ZERO,
    }
}

/// How many of the panel's units a fixed-price order's package holds, when kobo knows it
/// from the order itself: a Custom Comments Package holds its comment lines. A Package's
/// size is only in the panel's service description, which kobo cannot trust as a count:
/// `None`.
pub fn package_size(order: &Order) -> Option<u64> {
    match ServiceType::parse(&order.kind)? {
        ServiceType::CustomCommentsPackage => {
            let lines = order.fields.get("comments")?.lines().filter(|l| !l.trim().is_empty()).count() as u64;
            (lines > 0).then_some(lines)
        }
        _ => None,
    }
}

/// Why an upstream status line cannot be applied as it stands (the order stays as it is;
/// the reconciler asks again, and an operator alert says what is missing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// A status word kobo does not know.
    Status,
    /// A final status that needs the remains, without remains kobo can read.
    Remains(OrderStatus),
    /// A fixed-price package reported partial, with no package size to take the remains
    /// against: only the operator can say what the panel refunds.
    PackageProportion {
        /// The remains the panel reported, in its own units.
        remains: u64,
    },
}

impl Progress {
    /// From an upstream status line of `order`; `remains` is `None` when the panel sent
    /// none kobo can read. A subscription ends `Completed`, `Expired` (partial here) or
    /// `Canceled` with what it did not deliver as its remains; other orders end
    /// completed with nothing left, or cancelled with everything left. A final status
    /// whose refund depends on remains that cannot be read (or, for a package, on a size
    /// kobo does not know) is [`Unreadable`]: never settled as "nothing to refund".
    pub fn from_upstream(
        word: &str,
        start_count: u64,
        remains: Option<u64>,
        order: &Order,
    ) -> Result<Progress, Unreadable> {
        let units = order.units;
        let pricing = order.pricing();
        let hold = pricing == Some(Pricing::Hold);
        let status = match word.trim().to_ascii_lowercase().as_str() {
            "active" | "paused" if hold => OrderStatus::Processing,
            "expired" if hold => OrderStatus::Partial,
            _ => OrderStatus::from_upstream(word).ok_or(Unreadable::Status)?,
        };
        let needs_remains = status.is_final() && (hold || status == OrderStatus::Partial);
        let remains = match (remains, needs_remains) {
            (Some(r), _) => r,
            (None, true) => return Err(Unreadable::Remains(status)),
            // Not needed for the money: what the order showed stands.
            (None, false) => order.remains,
        };
        let remains = match status {
            _ if hold => remains.min(units),
            OrderStatus::Completed => 0,
            OrderStatus::Cancelled | OrderStatus::Refunded => units,
            OrderStatus::Partial if pricing == Some(Pricing::Fixed) => match package_size(order) {
                Some(size) => remains.min(size),
                None => return Err(Unreadable::PackageProportion { remains }),
            },
            _ if pricing == Some(Pricing::Fixed) => remains,
            _ => remains.min(units),
        };
        Ok(Progress { status, start_count, remains })
    }
}

impl Order {
    /// How the order's type is priced (`None` for a type kobo does not know).
    pub fn pricing(&self) -> Option<Pricing> {
        ServiceType::parse(&self.kind).map(ServiceType::pricing)
    }

    /// The fields of its upstream `add` call besides `service`.
    pub fn upstream_fields(&self) -> Vec<(String, String)> {
        let drip = self.runs.zip(self.interval);
        upstream_fields(ServiceType::parse(&self.kind), &self.link, self.quantity, drip, &self.fields)
    }
}

/// What an order's refund should be at a final status (see [`refund_for`]): a partial
/// package's remains count against its [`package_size`] (nothing when kobo does not know
/// it: such a status is never applied, see [`Unreadable::PackageProportion`]).
pub fn refund_due(order: &Order, p: &Progress) -> Kobo {
    let kind = ServiceType::parse(&order.kind);
    let units = match (order.pricing(), p.status) {
        (Some(Pricing::Fixed), OrderStatus::Partial) => match package_size(order) {
            Some(size) => size,
            None => return Kobo::ZERO,
        },
        _ => order.units,
    };
    refund_for(kind, p.status, order.charge, units, p.remains)
}

/// Whether `s` is a username or handle: an optional `@`, then 1 to 64 letters, digits,
/// `.`, `_` or `-`.
pub fn is_username(s: &str) -> bool {
    let s = s.strip_prefix('@').unwrap_or(s);
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Whether a service's target may be given as a username instead of a URL: account
/// targets (followers, subscribers, members, page likes) and every username field.
pub fn takes_handle(service: &Service) -> bool {
    let text = format!("{} {}", service.name, service.category).to_ascii_lowercase();
    ["follower", "subscriber", "member", "page like", "profile"].iter().any(|w| text.contains(w))
}

/// Reads an order of `service` from its text fields (`get(name)`), checking every field
/// as the panel would and the service's limits in the unit it is charged in.
pub fn parse_order<'a>(service: &Service, get: impl Fn(&str) -> Option<&'a str>) -> Result<OrderSpec, FieldError> {
    let kind = service_type(service);
    let t = kind.unwrap_or(ServiceType::Default);
    let text = |name: &'static str| get(name).map(str::trim).filter(|v| !v.is_empty());
    let need = |name: &'static str| text(name).ok_or_else(|| FieldError::new(name, "is required"));
    let whole = |name: &'static str, v: &str| -> Result<u64, FieldError> {
        v.parse::<u64>().map_err(|_| FieldError::new(name, "must be a whole number"))
    };
    let within = |name: &'static str, n: u64| -> Result<u64, FieldError> {
        if n < service.min || n > service.max {
            return Err(FieldError::new(name, format!("must be between {} and {}", service.min, service.max)));
        }
        Ok(n)
    };

    let mut extras = BTreeMap::new();
    let mut bytes = 0usize;
    for (name, required) in t.extras() {
        let value = match text(name) {
            Some(v) => v,
            None if *required => return Err(FieldError::new(name, "is required")),
            None => continue,
        };
        let value = check_extra(t, name, value)?;
        bytes += value.len();
        extras.insert(name.to_string(), value);
    }

    let link = if t.takes_link() {
        let raw = need("link")?;
        if !(is_valid_link(raw) || (takes_handle(service) && is_username(raw))) {
            let want = if takes_handle(service) { "an http(s) URL or a username" } else { "an http(s) URL" };
            return Err(FieldError::new("link", format!("must be {want}")));
        }
        raw.to_string()
    } else {
        extras.get("username").cloned().unwrap_or_default()
    };
    bytes += link.len();
    if bytes > MAX_FIELDS_BYTES {
        return Err(FieldError::new(
            "comments",
            format!("and the other fields may hold at most {MAX_FIELDS_BYTES} bytes"),
        ));
    }

    let stated = match text("quantity") {
        Some(q) => Some(whole("quantity", q)?),
        None => None,
    };
    let (mut runs, mut interval) = (None, None);
    let (quantity, units) = match t {
        _ if kind.map(ServiceType::pricing) == Some(Pricing::Fixed) => (1, 1),
        ServiceType::Subscriptions => {
            let min = whole("min", &extras["min"])?;
            let max = whole("max", &extras["max"])?;
            within("min", min)?;
            within("max", max)?;
            if min > max {
                return Err(FieldError::new("min", "must not be more than max"));
            }
            let count = |name: &'static str| -> Result<u64, FieldError> {
                extras.get(name).map(|v| whole(name, v)).transpose().map(|v| v.unwrap_or(0))
            };
            let posts = count("posts")?.saturating_add(count("old_posts")?);
            if posts == 0 {
                return Err(FieldError::new("posts", "or old_posts is required"));
            }
            if posts > MAX_POSTS {
                return Err(FieldError::new("posts", format!("and old_posts may cover at most {MAX_POSTS} posts")));
            }
            (max, max * posts)
        }
        _ => match t.counted_lines() {
            Some(list) => {
                let lines = extras[list].lines().count() as u64;
                if let Some(q) = stated.filter(|q| *q != lines) {
                    return Err(FieldError::new(
                        "quantity",
                        format!("must equal the number of {list} ({lines}), or be left out; {q} was given"),
                    ));
                }
                within(list, lines)?;
                (lines, lines)
            }
            None => {
                let q = stated.ok_or_else(|| FieldError::new("quantity", "is required"))?;
                within("quantity", q)?;
                let drip = (text("runs"), text("interval"));
                if drip != (None, None) && t != ServiceType::Default {
                    return Err(FieldError::new("runs", "drip-feed is only for Default services"));
                }
                let units = match drip {
                    (None, None) => q,
                    _ if !service.dripfeed => {
                        return Err(FieldError::new("runs", "drip-feed is not available for this service"))
                    }
                    (Some(r), Some(i)) => {
                        let r = whole("runs", r)?;
                        let i = whole("interval", i)?;
                        if !(1..=MAX_RUNS).contains(&r) {
                            return Err(FieldError::new("runs", format!("must be between 1 and {MAX_RUNS}")));
                        }
                        if !(1..=MAX_INTERVAL).contains(&i) {
                            return Err(FieldError::new(
                                "interval",
                                format!("must be between 1 and {MAX_INTERVAL} minutes"),
                            ));
                        }
                        runs = Some(r);
                        interval = Some(i);
                        q.checked_mul(r).ok_or_else(|| FieldError::new("runs", "is too large"))?
                    }
                    (None, Some(_)) => return Err(FieldError::new("runs", "is required with interval")),
                    (Some(_), None) => return Err(FieldError::new("interval", "is required with runs")),
                };
                (q, units)
            }
        },
    };
    if t == ServiceType::WebTraffic {
        match extras["type_of_traffic"].as_str() {
            "1" if !extras.contains_key("google_keyword") => {
                return Err(FieldError::new("google_keyword", "is required when type_of_traffic is 1"))
            }
            "2" if !extras.contains_key("referring_url") => {
                return Err(FieldError::new("referring_url", "is required when type_of_traffic is 2"))
            }
            _ => {}
        }
    }
    Ok(OrderSpec { link, quantity, units, runs, interval, extras })
}

/// Checks one of a type's own fields; answers the value as it is stored and forwarded.
fn check_extra(t: ServiceType, name: &'static str, value: &str) -> Result<String, FieldError> {
    let lines = |v: &str| -> Result<String, FieldError> {
        let kept: Vec<&str> = v.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        if kept.is_empty() {
            return Err(FieldError::new(name, "is required"));
        }
        if kept.len() > MAX_LINES {
            return Err(FieldError::new(name, format!("may hold at most {MAX_LINES} lines")));
        }
        Ok(kept.join("\n"))
    };
    let number = |lo: u64, hi: u64| -> Result<String, FieldError> {
        match value.parse::<u64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(n.to_string()),
            _ => Err(FieldError::new(name, format!("must be a whole number from {lo} to {hi}"))),
        }
    };
    let user = |v: &str| -> Result<String, FieldError> {
        if is_username(v) || is_valid_link(v) {
            Ok(v.to_string())
        } else {
            Err(FieldError::new(name, "must be a username or an http(s) URL"))
        }
    };
    match name {
        "comments" | "groups" | "keywords" | "hashtags" => lines(value),
        "usernames" => {
            let list = lines(value)?;
            if let Some(bad) = list.lines().find(|u| !is_username(u)) {
                return Err(FieldError::new(name, format!("holds {bad:?}, which is not a username")));
            }
            Ok(list)
        }
        "username" => user(value),
        "hashtag" => {
            let tag = value.strip_prefix('#').unwrap_or(value);
            if tag.is_empty() || tag.len() > 100 || !tag.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(FieldError::new(name, "must be one hashtag"));
            }
            Ok(value.to_string())
        }
        "media" | "referring_url" => {
            if is_valid_link(value) {
                Ok(value.to_string())
            } else {
                Err(FieldError::new(name, "must be an http(s) URL"))
            }
        }
        "answer_number" => number(1, 100),
        "min" | "max" => number(1, u64::MAX / MAX_POSTS),
        "posts" | "old_posts" => number(0, MAX_POSTS),
        "delay" => match value.parse::<u64>() {
            Ok(d) if DELAYS.contains(&d) => Ok(d.to_string()),
            _ => Err(FieldError::new(name, format!("must be one of {DELAYS:?} (minutes)"))),
        },
        "expiry" => {
            if chrono::NaiveDate::parse_from_str(value, "%d/%m/%Y").is_ok() {
                Ok(value.to_string())
            } else {
                Err(FieldError::new(name, "must be a date as dd/mm/yyyy"))
            }
        }
        "country" => {
            if value.len() <= 64 && value.chars().all(|c| c.is_alphabetic() || c == ' ') {
                Ok(value.to_string())
            } else {
                Err(FieldError::new(name, "must be a country code or name"))
            }
        }
        // 1 desktop, 2 Android, 3 iOS, 4 mixed mobile, 5 mixed mobile and desktop.
        "device" => number(1, 5),
        // 1 Google keyword, 2 custom referrer, 3 blank referrer.
        "type_of_traffic" => number(1, 3),
        "google_keyword" => {
            if value.len() <= 200 {
                Ok(value.to_string())
            } else {
                Err(FieldError::new(name, "may hold at most 200 characters"))
            }
        }
        _ => {
            debug_assert!(false, "{t:?} lists a field {name} with no check");
            Ok(value.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(kind: &str, min: u64, max: u64) -> Service {
        Service {
            id: 1,
            name: "Instagram Likes".into(),
            kind: kind.into(),
            category: "Instagram".into(),
            upstream_service: "1".into(),
            cost_per_1000: Kobo::new(100),
            rate_per_1000: Kobo::new(120),
            min,
            max,
            refill: false,
            cancel: true,
            enabled: true,
            dripfeed: true,
        }
    }

    fn parse(s: &Service, fields: &[(&str, &str)]) -> Result<OrderSpec, FieldError> {
        parse_order(s, |name| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v))
    }

    #[test]
    fn every_type_parses_back_from_its_name() {
        for t in ALL_TYPES {
            assert_eq!(ServiceType::parse(t.as_str()), Some(t));
            assert_eq!(ServiceType::parse(&t.as_str().to_uppercase().replace(' ', "_")), Some(t));
        }
        assert_eq!(ServiceType::parse("Story Views Package Deluxe"), None);
    }

    #[test]
    fn drip_feed_charges_quantity_times_runs() {
        let s = service("Default", 10, 1000);
        let o = parse(&s, &[("link", "https://x.ng/p"), ("quantity", "100"), ("runs", "5"), ("interval", "30")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((o.quantity, o.units, o.runs, o.interval), (100, 500, Some(5), Some(30)));
        assert_eq!(price(service_type(&s), Kobo::new(1000), o.units), Some(Kobo::new(500)));
        let e = parse(&s, &[("link", "https://x.ng/p"), ("quantity", "100"), ("runs", "5")]);
        assert_eq!(e.map_err(|e| e.field), Err("interval"));
        let mut no_drip = s.clone();
        no_drip.dripfeed = false;
        let e = parse(&no_drip, &[("link", "https://x.ng/p"), ("quantity", "100"), ("runs", "5"), ("interval", "3")]);
        assert_eq!(e.map_err(|e| e.field), Err("runs"));
    }

    #[test]
    fn custom_comments_count_lines_and_refuse_a_disagreeing_quantity() {
        let s = service("Custom Comments", 2, 100);
        let o = parse(&s, &[("link", "https://x.ng/p"), ("comments", "nice\n\n  great \nwow\n")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((o.quantity, o.units), (3, 3));
        assert_eq!(o.extras["comments"], "nice\ngreat\nwow");
        let e = parse(&s, &[("link", "https://x.ng/p"), ("comments", "a\nb"), ("quantity", "5")]);
        assert_eq!(e.map_err(|e| e.field), Err("quantity"));
        let e = parse(&s, &[("link", "https://x.ng/p"), ("comments", "only one")]);
        assert_eq!(e.map_err(|e| e.field), Err("comments"), "below the minimum, in comments");
        assert!(parse(&s, &[("link", "https://x.ng/p"), ("comments", "a\nb"), ("quantity", "2")]).is_ok());
    }

    #[test]
    fn subscriptions_hold_max_times_posts() {
        let s = service("Subscriptions", 50, 500);
        let f =
            [("username", "@ada"), ("min", "60"), ("max", "100"), ("posts", "4"), ("old_posts", "1"), ("delay", "30")];
        let o = parse(&s, &f).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((o.link.as_str(), o.quantity, o.units), ("@ada", 100, 500));
        let fields = upstream_fields(Some(ServiceType::Subscriptions), &o.link, o.quantity, None, &o.extras);
        assert!(!fields.iter().any(|(k, _)| k == "link" || k == "quantity"), "{fields:?}");
        let no_posts = [("username", "ada"), ("min", "60"), ("max", "100"), ("delay", "0")];
        assert_eq!(parse(&s, &no_posts).map_err(|e| e.field), Err("posts"));
        let bad_delay = [("username", "ada"), ("min", "60"), ("max", "100"), ("posts", "2"), ("delay", "7")];
        assert_eq!(parse(&s, &bad_delay).map_err(|e| e.field), Err("delay"));
        let inverted = [("username", "ada"), ("min", "200"), ("max", "100"), ("posts", "2"), ("delay", "0")];
        assert_eq!(parse(&s, &inverted).map_err(|e| e.field), Err("min"));
        let t = Some(ServiceType::Subscriptions);
        assert_eq!(refund_for(t, OrderStatus::Completed, Kobo::new(5000), 500, 120), Kobo::new(1200));
        assert_eq!(refund_for(t, OrderStatus::Cancelled, Kobo::new(5000), 500, 300), Kobo::new(3000));
        assert_eq!(refund_for(t, OrderStatus::Processing, Kobo::new(5000), 500, 300), Kobo::ZERO);
    }

    #[test]
    fn packages_cost_their_price_and_take_no_quantity() {
        let s = service("Package", 1, 1);
        let o = parse(&s, &[("link", "https://x.ng/p")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((o.quantity, o.units), (1, 1));
        assert_eq!(price(Some(ServiceType::Package), Kobo::new(250_000), 1), Some(Kobo::new(250_000)));
    }

    #[test]
    fn every_required_field_is_named_when_missing() {
        for t in ALL_TYPES {
            let s = service(t.as_str(), 1, 1000);
            let full: Vec<(&str, &str)> = vec![
                ("link", "https://x.ng/p"),
                ("quantity", "2"),
                ("comments", "a\nb"),
                ("usernames", "ada\nbola"),
                ("hashtags", "#lagos"),
                ("hashtag", "lagos"),
                ("username", "ada"),
                ("media", "https://x.ng/m"),
                ("answer_number", "2"),
                ("groups", "g1"),
                ("keywords", "buy shoes"),
                ("min", "10"),
                ("max", "20"),
                ("posts", "3"),
                ("delay", "0"),
                ("country", "NG"),
                ("device", "2"),
                ("type_of_traffic", "3"),
            ];
            let ok = parse(&s, &full);
            assert!(ok.is_ok(), "{t:?}: {ok:?}");
            for field in t.required_fields() {
                let fewer: Vec<(&str, &str)> = full.iter().copied().filter(|(k, _)| *k != field).collect();
                let got = parse(&s, &fewer).map_err(|e| e.field);
                assert_eq!(got, Err(field), "{t:?} without {field}");
            }
        }
    }

    #[test]
    fn handles_only_where_the_service_targets_an_account() {
        let mut s = service("Default", 1, 100);
        assert_eq!(parse(&s, &[("link", "@ada"), ("quantity", "5")]).map_err(|e| e.field), Err("link"));
        s.name = "Instagram Followers".into();
        assert_eq!(parse(&s, &[("link", "@ada"), ("quantity", "5")]).map(|o| o.link), Ok("@ada".to_string()));
        assert_eq!(parse(&s, &[("link", "not a handle!"), ("quantity", "5")]).map_err(|e| e.field), Err("link"));
    }

    #[test]
    fn web_traffic_needs_the_source_its_traffic_type_names() {
        let s = service("Web Traffic", 100, 10_000);
        let base = [("link", "https://x.ng"), ("quantity", "500"), ("country", "NG"), ("device", "5")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut f = base.to_vec();
            f.extend_from_slice(extra);
            parse(&s, &f).map_err(|e| e.field)
        };
        assert_eq!(with(&[("type_of_traffic", "1")]).err(), Some("google_keyword"));
        assert!(with(&[("type_of_traffic", "1"), ("google_keyword", "lagos shoes")]).is_ok());
        assert_eq!(with(&[("type_of_traffic", "2")]).err(), Some("referring_url"));
        assert_eq!(with(&[("type_of_traffic", "9")]).err(), Some("type_of_traffic"));
    }
}
