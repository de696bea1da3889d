//! Documents: a map from field names to [`Value`]s, or any `serde` struct.
//!
//! ```
//! use ember_search::{Document, Value};
//! let doc = Document::new()
//!     .with("id", "p1")
//!     .with("name", "Trail running shoe")
//!     .with("tags", vec!["outdoor", "sale"])
//!     .with("likes", 42u64)
//!     .with("price", 89.5);
//! assert_eq!(doc.get("likes"), Some(&Value::U64(42)));
//! assert_eq!(doc.get("name").and_then(Value::as_str), Some("Trail running shoe"));
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};

/// A field value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A string (text, keyword or id fields).
    Text(String),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float.
    F64(f64),
    /// A boolean (stored fields only).
    Bool(bool),
    /// A date, in milliseconds since the Unix epoch.
    Date(i64),
    /// Several values (multi-valued text and keyword fields, stored lists).
    List(Vec<Value>),
    /// A nested object (stored fields only).
    Object(BTreeMap<String, Value>),
}

impl Value {
    /// The string, if this is a [`Value::Text`].
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The number as an `f64`, if this is numeric or a date.
    #[must_use]
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::I64(v) | Value::Date(v) => Some(v as f64),
            Value::U64(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The number as an `i64`, if it is an integer (or date) that fits.
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I64(v) | Value::Date(v) => Some(v),
            Value::U64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The number as a `u64`, if it is a non-negative integer.
    #[must_use]
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U64(v) => Some(v),
            Value::I64(v) | Value::Date(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub(crate) fn type_name(&self) -> String {
        match self {
            Value::Text(s) => format!("text {s:?}"),
            Value::I64(v) => format!("i64 {v}"),
            Value::U64(v) => format!("u64 {v}"),
            Value::F64(v) => format!("f64 {v}"),
            Value::Bool(v) => format!("bool {v}"),
            Value::Date(v) => format!("date {v}"),
            Value::List(_) => "a list".to_string(),
            Value::Object(_) => "an object".to_string(),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(s) => f.write_str(s),
            Value::I64(v) | Value::Date(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Object(map) => {
                f.write_str("{")?;
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $v:ident as $c:ty),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(x: $t) -> Self {
                Value::$v(x as $c)
            }
        })*
    };
}
value_from!(i64 => I64 as i64, i32 => I64 as i64, u64 => U64 as u64, u32 => U64 as u64,
    usize => U64 as u64, f64 => F64 as f64, f32 => F64 as f64);

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}

/// A document: field name → value. Absent fields are simply not set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    fields: BTreeMap<String, Value>,
}

impl Document {
    /// An empty document.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// This document with `field` set to `value`.
    #[must_use]
    pub fn with(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.insert(field, value);
        self
    }

    /// Sets `field` to `value`, returning the previous value.
    pub fn insert(&mut self, field: &str, value: impl Into<Value>) -> Option<Value> {
        self.fields.insert(field.to_string(), value.into())
    }

    /// The value of `field`.
    #[must_use]
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    /// The string value of `field` (first one for a list).
    #[must_use]
    pub fn get_str(&self, field: &str) -> Option<&str> {
        match self.fields.get(field)? {
            Value::Text(s) => Some(s),
            Value::List(l) => l.first().and_then(Value::as_str),
            _ => None,
        }
    }

    /// Removes `field`.
    pub fn remove(&mut self, field: &str) -> Option<Value> {
        self.fields.remove(field)
    }

    /// The fields, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of fields set.
    #[must_use]
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether no field is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// A document from any `serde` struct or map (JSON semantics: strings, numbers, booleans, lists;
    /// `null` fields are left out).
    ///
    /// ```
    /// #[derive(serde::Serialize)]
    /// struct Product { id: String, name: String, likes: u64 }
    /// let d = ember_search::Document::from_serde(&Product { id: "a".into(), name: "Lamp".into(), likes: 3 }).unwrap();
    /// assert_eq!(d.get_str("name"), Some("Lamp"));
    /// ```
    ///
    /// # Errors
    /// [`Error::Serde`] when the value does not serialize to an object.
    #[cfg(feature = "serde")]
    pub fn from_serde<T: serde::Serialize + ?Sized>(value: &T) -> Result<Document> {
        match serde_json::to_value(value).map_err(|e| Error::Serde(e.to_string()))? {
            serde_json::Value::Object(map) => {
                let mut doc = Document::new();
                for (k, v) in map {
                    if let Some(v) = from_json(v) {
                        doc.fields.insert(k, v);
                    }
                }
                Ok(doc)
            }
            other => Err(Error::Serde(format!(
                "a document must serialize to an object, got {other}"
            ))),
        }
    }

    /// Turns this document into a `serde` struct (dates become integers).
    ///
    /// # Errors
    /// [`Error::Serde`] when the struct does not fit the document.
    #[cfg(feature = "serde")]
    pub fn to_serde<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        let map: serde_json::Map<String, serde_json::Value> = self
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), to_json(v)))
            .collect();
        serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| Error::Serde(e.to_string()))
    }
}

impl<K: AsRef<str>, V: Into<Value>> FromIterator<(K, V)> for Document {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut d = Document::new();
        for (k, v) in iter {
            d.insert(k.as_ref(), v);
        }
        d
    }
}

#[cfg(feature = "serde")]
fn from_json(v: serde_json::Value) -> Option<Value> {
    use serde_json::Value as J;
    Some(match v {
        J::Null => return None,
        J::Bool(b) => Value::Bool(b),
        J::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::U64(u)
            } else if let Some(i) = n.as_i64() {
                Value::I64(i)
            } else {
                Value::F64(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        J::String(s) => Value::Text(s),
        J::Array(items) => Value::List(items.into_iter().filter_map(from_json).collect()),
        J::Object(map) => Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| from_json(v).map(|v| (k, v)))
                .collect(),
        ),
    })
}

#[cfg(feature = "serde")]
fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Text(s) => J::String(s.clone()),
        Value::I64(i) | Value::Date(i) => J::from(*i),
        Value::U64(u) => J::from(*u),
        Value::F64(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Bool(b) => J::Bool(*b),
        Value::List(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Object(map) => J::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}
