use tocsin_runtime::ApiError;
use tocsin_storage::{Pool, PooledConnection, StorageError};

/// A connection from the pool; 503 naming the database when none comes in time.
pub(crate) async fn connection(pool: &Pool) -> Result<PooledConnection, ApiError> {
    pool.get().await.map_err(|error| storage_error(error.into()))
}

pub fn storage_error(error: StorageError) -> ApiError {
    match error {
        StorageError::Unavailable(detail) => ApiError::unavailable("the database", detail),
        other => ApiError::internal(other),
    }
}

/// The id in a path, or a 400 that starts with the parameter, as every refusal names its field:
/// `` id `x` is not a schedule id (a UUID) ``.
pub(crate) fn parse_id(what: &str, text: &str) -> Result<uuid::Uuid, ApiError> {
    text.parse().map_err(|_| ApiError::invalid_parameter(format!("id `{text}` is not a {what} id (a UUID)")))
}
