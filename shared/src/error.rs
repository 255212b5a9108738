//! Every error a reseller can see, and its HTTP status and message: the one place where
//! the seed's codes and words live.

/// An error answered to an API caller as `{"error": message}` with [`ApiError::status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No key, a malformed key, an unknown key or a revoked key.
    #[error("Invalid api key")]
    InvalidKey,
    /// The account's API access is not active (not yet approved, or suspended).
    #[error("API access is not active for this account")]
    ApiAccessInactive,
    /// The key has an IP whitelist and the caller's address is not on it.
    #[error("This API key is not allowed from IP address {0}")]
    IpNotWhitelisted(String),
    /// The key has a domain whitelist and the request named no origin or another one.
    #[error("This API key is not allowed from this domain; send X-API-ORIGIN, Origin, origin= or domain= with a whitelisted domain")]
    DomainNotWhitelisted,
    /// The key's scopes do not include the action.
    #[error("This API key is not allowed for this action")]
    ScopeDenied,
    /// Too many requests in the current window; retry after the given seconds.
    #[error("Too many requests; retry after {retry_after} seconds")]
    RateLimited {
        /// Seconds until the window resets (also sent as `Retry-After`).
        retry_after: u64,
    },
    /// A field is missing or invalid; the message names it.
    #[error("{0}")]
    Validation(String),
    /// The action exists in the API but this deployment does not serve it yet.
    #[error("The action {0} is not available yet")]
    NotImplemented(&'static str),
    /// The request body is larger than kobo accepts.
    #[error("Request body too large: at most {0} bytes")]
    BodyTooLarge(usize),
    /// Only POST is served on the API URL.
    #[error("Method not allowed: use POST")]
    MethodNotAllowed,
    /// The Idempotency-Key was used before with a different request.
    #[error("This Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    /// The id names nothing the caller owns (another account's id answers the same).
    #[error("{0}")]
    NotFound(String),
    /// The transaction PIN was not accepted: wrong, or locked after repeated wrong PINs,
    /// or every attempt is taken by checks still running. One answer for all of them, so
    /// no answer says more about a PIN than that it was not accepted.
    #[error("Transaction PIN not accepted. After 5 wrong PINs purchases and withdrawals are locked (30 minutes, then 24 hours, then until support resets the PIN)")]
    PinRefused,
    /// The account has no verified payout phone (withdrawals and their OTPs go only there).
    #[error("This account has no verified payout phone; verify one in the Developer Portal or ask support")]
    NoPayoutPhone,
    /// The account has no transaction PIN.
    #[error("Set a transaction PIN before buying")]
    PinNotSet,
    /// Not enough funds, or the account's minimum balance would be violated.
    #[error("Insufficient balance")]
    InsufficientBalance,
    /// An upstream dependency (DynamoDB, a provider) is throttling or unreachable; nothing
    /// was changed and the request can be retried.
    #[error("Service temporarily unavailable; retry later")]
    Unavailable,
    /// A bug or an unexpected state; details are in the logs under the request id.
    #[error("Internal server error; retry later")]
    Internal,
}

impl ApiError {
    /// The HTTP status the seed gives this error.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidKey => 401,
            ApiError::ApiAccessInactive
            | ApiError::IpNotWhitelisted(_)
            | ApiError::DomainNotWhitelisted
            | ApiError::ScopeDenied => 403,
            ApiError::MethodNotAllowed => 405,
            ApiError::IdempotencyMismatch => 409,
            ApiError::NotFound(_) => 404,
            ApiError::BodyTooLarge(_) => 413,
            ApiError::Validation(_) | ApiError::InsufficientBalance => 422,
            ApiError::PinRefused | ApiError::PinNotSet | ApiError::NoPayoutPhone => 403,
            ApiError::RateLimited { .. } => 429,
            ApiError::Internal => 500,
            ApiError::NotImplemented(_) => 501,
            ApiError::Unavailable => 503,
        }
    }

    /// A validation error for `field`: `"<field> <problem>"`.
    pub fn field(field: &str, problem: impl std::fmt::Display) -> ApiError {
        ApiError::Validation(format!("{field} {problem}"))
    }

    /// The value of a `Retry-After` header, where one belongs.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited { retry_after } => Some(*retry_after),
            ApiError::Unavailable => Some(1),
            _ => None,
        }
    }
}

/// A failure of the store: either the caller's fault (surfaced as an [`ApiError`]) or the
/// infrastructure's.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write's condition did not hold (balance too low, wrong state, ...).
    #[error("condition failed: {0}")]
    Conflict(String),
    /// DynamoDB is throttling; nothing was written.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The item the operation needs does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A stored item could not be read back into its type.
    #[error("corrupt item {0}: {1}")]
    Corrupt(String, String),
    /// A write that may or may not have been applied (every attempt ended in a 5xx or a
    /// throttle after one that did): read back before answering.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// Any other SDK or service failure.
    #[error("dynamodb: {0}")]
    Backend(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled(_) => ApiError::Unavailable,
            StoreError::Unknown(e) => {
                tracing::warn!(error = %e, "a write's outcome is unknown; the client is told to retry");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::Internal
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_messages_and_codes() {
        assert_eq!(ApiError::InvalidKey.to_string(), "Invalid api key");
        assert_eq!(ApiError::ScopeDenied.to_string(), "This API key is not allowed for this action");
        assert_eq!(ApiError::InsufficientBalance.to_string(), "Insufficient balance");
        assert_eq!(ApiError::InvalidKey.status(), 401);
        assert_eq!(ApiError::ScopeDenied.status(), 403);
        assert_eq!(ApiError::ApiAccessInactive.status(), 403);
        assert_eq!(ApiError::RateLimited { retry_after: 3 }.status(), 429);
        assert_eq!(ApiError::RateLimited { retry_after: 3 }.retry_after(), Some(3));
        assert_eq!(ApiError::field("quantity", "is required").to_string(), "quantity is required");
        assert_eq!(ApiError::field("quantity", "is required").status(), 422);
    }
}
