//! The schema: which fields a document has and what the index does with each.
//!
//! | kind | built with | analysis | search | filter / range | sort | facet | stored |
//! |---|---|---|---|---|---|---|---|
//! | id | [`SchemaBuilder::id`] | none (exact) | `get(id)` | term | – | – | yes |
//! | text | [`SchemaBuilder::text`] | the field's [`Analyzer`] (English by default) | BM25, phrases, typos, prefix | – | – | – | yes (default) |
//! | keyword | [`SchemaBuilder::keyword`] | none (exact, case-sensitive) | `field:value` | term, any-of | yes | yes | yes |
//! | i64 / u64 / f64 | [`SchemaBuilder::i64`]… | none | `field:value` | term, range | yes | – | yes |
//! | date | [`SchemaBuilder::date`] | none (ms since the epoch) | – | term, range | yes | – | yes |
//! | stored | [`SchemaBuilder::stored`] | not indexed | – | – | – | – | yes |
//!
//! Text fields score together as one combined field (BM25F, like Elasticsearch's `combined_fields`),
//! each weighted by its [`TextField::boost`]. Keyword and text fields accept a list of values.
//!
//! ```
//! use ember_search::{Schema, TextField};
//! let schema = Schema::builder()
//!     .id("sku")
//!     .text_with("name", TextField::new().boost(2.0))
//!     .text("description")
//!     .keyword("brand")
//!     .u64("likes")
//!     .f64("price")
//!     .date("added")
//!     .stored("image_url")
//!     .build()
//!     .unwrap();
//! assert_eq!(schema.id_field(), "sku");
//! assert_eq!(schema.fields().count(), 7);
//! ```

use std::collections::HashSet;

use crate::analysis::Analyzer;
use crate::error::{Error, Result};

/// Options of a text field.
#[derive(Debug, Clone, PartialEq)]
pub struct TextField {
    pub(crate) boost: f32,
    pub(crate) analyzer: Analyzer,
    pub(crate) stored: bool,
}

impl Default for TextField {
    fn default() -> Self {
        TextField {
            boost: 1.0,
            analyzer: Analyzer::english(),
            stored: true,
        }
    }
}

impl TextField {
    /// English analysis, boost 1, stored.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Weight of this field in scoring (a term in a field with boost 2 counts twice). Must be > 0.
    #[must_use]
    pub fn boost(mut self, boost: f32) -> Self {
        self.boost = boost;
        self
    }

    /// The analyzer of this field (see [`crate::analysis`]).
    #[must_use]
    pub fn analyzer(mut self, analyzer: Analyzer) -> Self {
        self.analyzer = analyzer;
        self
    }

    /// Whether the original value is stored (needed for `get`, hits' documents and highlights).
    #[must_use]
    pub fn stored(mut self, stored: bool) -> Self {
        self.stored = stored;
        self
    }
}

/// What kind of field a schema entry is.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FieldKind {
    /// Analyzed full text.
    Text(TextField),
    /// An exact string: filterable, sortable, facetable.
    Keyword,
    /// A signed integer.
    I64,
    /// An unsigned integer.
    U64,
    /// A float.
    F64,
    /// A date: milliseconds since the Unix epoch.
    Date,
    /// Stored, never indexed: any JSON value, returned as is.
    Stored,
}

impl FieldKind {
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            FieldKind::Text(_) => "text",
            FieldKind::Keyword => "a keyword string",
            FieldKind::I64 => "an i64",
            FieldKind::U64 => "a u64",
            FieldKind::F64 => "an f64",
            FieldKind::Date => "a date (ms since the epoch)",
            FieldKind::Stored => "a stored value",
        }
    }
}

/// A named field of the schema.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    pub(crate) name: String,
    pub(crate) kind: FieldKind,
}

impl FieldDef {
    /// The field's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The field's kind.
    #[must_use]
    pub fn kind(&self) -> &FieldKind {
        &self.kind
    }
}

/// The fields of a [`SearchIndex`](crate::SearchIndex). Built with [`Schema::builder`].
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub(crate) id: String,
    pub(crate) fields: Vec<FieldDef>,
}

impl Schema {
    /// Starts a schema.
    pub fn builder() -> SchemaBuilder {
        SchemaBuilder::default()
    }

    /// The id field's name.
    #[must_use]
    pub fn id_field(&self) -> &str {
        &self.id
    }

    /// The fields other than the id, in declaration order.
    pub fn fields(&self) -> impl Iterator<Item = &FieldDef> {
        self.fields.iter()
    }

    /// The definition of `name` (not the id field).
    #[must_use]
    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The names of the text fields.
    pub fn text_fields(&self) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .filter(|f| matches!(f.kind, FieldKind::Text(_)))
            .map(|f| f.name.as_str())
    }
}

/// Builds a [`Schema`]. Field names must be unique, non-empty and not start with `_` or `-`.
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct SchemaBuilder {
    id: Option<String>,
    fields: Vec<FieldDef>,
}

impl SchemaBuilder {
    /// The id field (required): documents are upserted, fetched and deleted by it. Values are strings
    /// (integers are accepted and turned into strings).
    pub fn id(mut self, name: &str) -> Self {
        self.id = Some(name.to_string());
        self
    }

    /// A text field with default options: English analysis, boost 1, stored.
    pub fn text(self, name: &str) -> Self {
        self.text_with(name, TextField::default())
    }

    /// A text field with the given options.
    pub fn text_with(self, name: &str, options: TextField) -> Self {
        self.add(name, FieldKind::Text(options))
    }

    /// A keyword field: exact strings (case-sensitive), one or several per document.
    pub fn keyword(self, name: &str) -> Self {
        self.add(name, FieldKind::Keyword)
    }

    /// A signed integer field.
    pub fn i64(self, name: &str) -> Self {
        self.add(name, FieldKind::I64)
    }

    /// An unsigned integer field.
    pub fn u64(self, name: &str) -> Self {
        self.add(name, FieldKind::U64)
    }

    /// A float field.
    pub fn f64(self, name: &str) -> Self {
        self.add(name, FieldKind::F64)
    }

    /// A date field, in milliseconds since the Unix epoch.
    pub fn date(self, name: &str) -> Self {
        self.add(name, FieldKind::Date)
    }

    /// A stored-only field: kept and returned, never searched.
    pub fn stored(self, name: &str) -> Self {
        self.add(name, FieldKind::Stored)
    }

    /// Adds a field of any kind.
    pub fn add(mut self, name: &str, kind: FieldKind) -> Self {
        self.fields.push(FieldDef {
            name: name.to_string(),
            kind,
        });
        self
    }

    /// Validates and builds the schema.
    ///
    /// # Errors
    /// [`Error::Config`] when the id is missing, a name is empty, reserved or repeated, a boost is not
    /// a positive finite number, or there is no field at all besides the id.
    pub fn build(self) -> Result<Schema> {
        let id = self
            .id
            .ok_or_else(|| Error::Config("the schema needs an id field".into()))?;
        let mut seen = HashSet::new();
        for name in std::iter::once(&id).chain(self.fields.iter().map(|f| &f.name)) {
            if name.is_empty() || name.starts_with('_') || name.starts_with('-') {
                return Err(Error::Config(format!(
                    "invalid field name `{name}` (empty, or starts with `_` or `-`)"
                )));
            }
            if name.contains(':') || name.chars().any(char::is_whitespace) {
                return Err(Error::Config(format!(
                    "invalid field name `{name}` (contains `:` or whitespace)"
                )));
            }
            if !seen.insert(name.clone()) {
                return Err(Error::Config(format!("field `{name}` declared twice")));
            }
        }
        for f in &self.fields {
            if let FieldKind::Text(t) = &f.kind {
                if !(t.boost.is_finite() && t.boost > 0.0) {
                    return Err(Error::Config(format!(
                        "boost of `{}` must be a positive number, got {}",
                        f.name, t.boost
                    )));
                }
            }
        }
        if self.fields.is_empty() {
            return Err(Error::Config(
                "the schema has no field besides the id".into(),
            ));
        }
        Ok(Schema {
            id,
            fields: self.fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_schemas() {
        assert!(matches!(
            Schema::builder().text("a").build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Schema::builder().id("id").build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Schema::builder().id("id").text("a").keyword("a").build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Schema::builder().id("id").text("_x").build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Schema::builder().id("id").text("a:b").build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Schema::builder()
                .id("id")
                .text_with("a", TextField::new().boost(0.0))
                .build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Schema::builder().id("id").text("id").build(),
            Err(Error::Config(_))
        ));
    }
}
