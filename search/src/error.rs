//! The crate's error type.

/// Everything that can go wrong in ember-search.
///
/// Bad input (a malformed document, a query that does not parse, a sort on a field that cannot be sorted)
/// gets its own variant, so a caller can tell a user's mistake from a failure of the index underneath.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The schema or builder settings are invalid (duplicate field, reserved name, bad boost…).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A document has no value for the schema's id field (or an empty one).
    #[error("document has no id (field `{field}`)")]
    MissingId {
        /// The id field's name.
        field: String,
    },
    /// A document names a field the schema does not have.
    #[error("unknown field `{0}`")]
    UnknownField(String),
    /// A document or query gives a field a value of the wrong type.
    #[error("field `{field}` expects {expected}, got {found}")]
    WrongType {
        /// The field.
        field: String,
        /// What the schema wants.
        expected: &'static str,
        /// What was given.
        found: String,
    },
    /// A field has several values but takes only one.
    #[error("field `{0}` takes a single value")]
    NotMultiValued(String),
    /// A query string that does not parse, with the byte position of the problem.
    #[error("query syntax error at byte {position}: {message}")]
    QuerySyntax {
        /// Byte offset in the query string.
        position: usize,
        /// What is wrong.
        message: String,
    },
    /// A query, filter, sort or facet names a field that cannot be used that way.
    #[error("field `{field}` cannot be used for {usage}")]
    FieldUsage {
        /// The field.
        field: String,
        /// What it was used for (`"sorting"`, `"facets"`, `"range filters"`…).
        usage: &'static str,
    },
    /// A serde value could not be turned into a document, or a stored document into a struct.
    #[error("serialization: {0}")]
    Serde(String),
    /// An index opened from disk was created with a different schema.
    #[error("schema mismatch: {0}")]
    SchemaMismatch(String),
    /// The index has been closed.
    #[error("index is closed")]
    Closed,
    /// An error from tantivy (I/O, a corrupt index, a lock held by another writer).
    #[error("index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// An I/O error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<tantivy::directory::error::OpenDirectoryError> for Error {
    fn from(e: tantivy::directory::error::OpenDirectoryError) -> Self {
        Error::Index(e.into())
    }
}
