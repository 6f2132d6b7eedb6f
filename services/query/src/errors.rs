use tocsin_runtime::ApiError;
use tocsin_storage::StorageError;

pub fn storage_error(error: StorageError) -> ApiError {
    match error {
        StorageError::Unavailable(detail) => ApiError::unavailable("the database", detail),
        other => ApiError::internal(other),
    }
}
