use diesel::result::{DatabaseErrorKind, Error as DieselError};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database cannot be reached or the pool has no connection to give: retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Lost a race with another writer (unique violation, deadlock, serialization failure): the
    /// transaction is rolled back and can be run again as it is.
    #[error("concurrent update: {0}")]
    Contended(String),
    #[error("database error: {0}")]
    Query(DieselError),
    /// A row holds a value the code does not know (a status written by a newer release, say).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StorageError {
    /// Whether running the same work again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StorageError::Unavailable(_) | StorageError::Contended(_))
    }
}

impl From<DieselError> for StorageError {
    fn from(error: DieselError) -> Self {
        match &error {
            DieselError::DatabaseError(kind, info) => match kind {
                DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::SerializationFailure => {
                    StorageError::Contended(info.message().to_owned())
                }
                DatabaseErrorKind::ClosedConnection => StorageError::Unavailable(info.message().to_owned()),
                // Deadlocks (40P01) have no kind of their own in diesel.
                _ if info.message().contains("deadlock detected") => StorageError::Contended(info.message().to_owned()),
                _ => StorageError::Query(error),
            },
            DieselError::BrokenTransactionManager => StorageError::Unavailable(error.to_string()),
            _ => StorageError::Query(error),
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for StorageError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        StorageError::Unavailable(error.to_string())
    }
}
