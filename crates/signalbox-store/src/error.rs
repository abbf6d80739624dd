//! What can go wrong in the store, each message naming the thing that failed.

/// An error from the store.
///
/// Messages name the operation or the file that failed, in backticks, and carry
/// SQLite's own one-line message; they never include SQL text. A server may show
/// them to operators in logs; an API should answer 5xx without echoing them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory `{path}`: {message}")]
    CreateDir { path: String, message: String },
    #[error("cannot open the database `{path}`: {message}")]
    Open { path: String, message: String },
    #[error("the data directory `{path}` is in use by another signalbox process")]
    Locked { path: String },
    #[error("cannot set `{pragma}` on the database: {message}")]
    Pragma { pragma: &'static str, message: String },
    #[error("cannot migrate the database schema to version {version}: {message}")]
    Migrate { version: i64, message: String },
    #[error("the database schema is version {found}, newer than the {known} this build knows; run a newer signalbox")]
    SchemaTooNew { found: i64, known: i64 },
    /// A `Tx` method failed; `op` is the method's name.
    #[error("`{op}` failed: {message}")]
    Query { op: &'static str, message: String },
    #[error("cannot encode `{what}` as JSON: {message}")]
    Encode { what: &'static str, message: String },
    #[error("stored `{what}` is not readable: {message}")]
    Decode { what: String, message: String },
    #[error("cannot begin the write transaction (`BEGIN IMMEDIATE`): {message}; nothing in this batch was stored")]
    Begin { message: String },
    #[error("`COMMIT` failed: {message}; nothing in this batch was stored")]
    Commit { message: String },
    #[error("the write transaction was aborted by an earlier failure in its batch: {message}; nothing was stored")]
    Aborted { message: String },
    #[error("the write operation panicked (`{message}`); its changes were rolled back")]
    Panicked { message: String },
    #[error("the writer did not answer within {seconds} s")]
    WriterStuck { seconds: u64 },
    #[error("the store is closed")]
    Closed,
    /// The disk is full (or the database reached its size limit): retry once space is freed.
    #[error("`{op}` failed: the disk is full ({message}); nothing was stored")]
    Full { op: String, message: String },
    /// SQLite found the file damaged; writes are refused until it is repaired (`signalbox store check`).
    #[error("the database is damaged ({message}); writes are refused: run `signalbox store check` and restore from a backup")]
    Damaged { message: String },
    /// The database file is not the one this data directory held.
    #[error("{0}")]
    WrongStore(String),
    /// The database server cannot be reached (PostgreSQL down, the connection
    /// lost): retry; the store reconnects by itself.
    #[error("the database cannot be reached: {message}")]
    Unreachable { message: String },
    /// A store location (`sqlite://<data_dir>`, `postgres://…`) that cannot be read.
    #[error("{0}")]
    Location(String),
    /// `store copy` could not finish; nothing was stored in the target.
    #[error("store copy: {0}")]
    Copy(String),
}

impl StoreError {
    /// Whether the store cannot serve now but may later (closed, its writer
    /// stuck, the database busy): a caller answers "try again", not "bug".
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Closed
                | StoreError::WriterStuck { .. }
                | StoreError::Locked { .. }
                | StoreError::Begin { .. }
                | StoreError::Full { .. }
                | StoreError::Damaged { .. }
                | StoreError::Unreachable { .. }
        )
    }

    /// Wraps a SQLite error raised by the operation named `op`.
    pub(crate) fn query(op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
        move |e| StoreError::classify(op, &e).unwrap_or_else(|| StoreError::Query { op, message: e.to_string() })
    }

    /// A full disk or a damaged file, whichever operation met it; `None` for other errors.
    pub(crate) fn classify(op: &str, e: &rusqlite::Error) -> Option<StoreError> {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code()? {
            ErrorCode::DiskFull => Some(StoreError::Full { op: op.to_string(), message: e.to_string() }),
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                Some(StoreError::Damaged { message: format!("`{op}`: {e}") })
            }
            _ => None,
        }
    }
}
