//! The gateway's own errors (setup and key lookups). Errors answered to a
//! client are [`flowex_http::ApiError`]s.

/// What can go wrong in the gateway itself.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The key directory (the auth service) could not answer.
    #[error("key directory unavailable: {0}")]
    Directory(String),
    /// The key directory answered something that is not a key record.
    #[error("invalid key record from the key directory: {0}")]
    InvalidRecord(String),
    /// The shared HTTP stack refused the configuration (CORS, CSP).
    #[error(transparent)]
    Stack(#[from] flowex_http::StackError),
    /// A gateway setting is unusable.
    #[error("gateway configuration: {0}")]
    Config(String),
}
