//! Queries: a query-string syntax for user input and a typed builder for programs.
//!
//! # Query strings ([`Query::parse`])
//!
//! | syntax | meaning |
//! |---|---|
//! | `running shoes` | any of the words (OR), ranked by BM25; each word analyzed like the fields |
//! | `"trail running"` | the phrase (words adjacent, in order); `"trail shoe"~2` allows 2 words between |
//! | `+waterproof` | the word is required |
//! | `-leather` | documents with the word are excluded |
//! | `name:boot` | the word in one field; on a keyword or numeric field an exact value |
//! | `likes:>=10`, `price:<50` | a range on a numeric or date field |
//! | `run*` | a prefix |
//!
//! Anything else is text: `AND`/`OR`/`NOT` are ordinary words (the English analyzer drops them as
//! stopwords), a `field:` whose field does not exist is read as two words, lone `+`/`-` are ignored.
//! The only syntax errors are an unclosed quote, a `field:` with nothing after it and a bad number in a
//! range; they come back as [`Error::QuerySyntax`], never a panic.
//!
//! ```
//! use ember_search::Query;
//! assert!(Query::parse(r#"+trail "running shoe"~1 -leather likes:>10 boo*"#).is_ok());
//! assert!(Query::parse(r#"say "hello"#).is_err()); // unclosed quote
//! ```
//!
//! # The typed builder
//!
//! ```
//! use ember_search::Query;
//! let q = Query::bool()
//!     .must(Query::text("running shoes"))
//!     .should(Query::phrase("trail running"))
//!     .must_not(Query::term("brand", "acme"))
//!     .filter(Query::range("price", 10.0..100.0))
//!     .build();
//! # let _ = q;
//! ```

use std::ops::{Bound, RangeBounds};

use crate::document::Value;
use crate::error::{Error, Result};

/// How a word may match as a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrefixMode {
    /// Whole words only.
    No,
    /// Always a prefix (`word*`, [`Query::prefix`]).
    Always,
    /// A prefix when the search runs "as you type" (the last word of a query string not followed by a
    /// space).
    AsYouType,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    All,
    /// Analyzed words; each one scores on its own (OR), or all are required (`require_all`).
    Words {
        text: String,
        fields: Option<Vec<String>>,
        require_all: bool,
        prefix: PrefixMode,
        typos: bool,
    },
    Phrase {
        text: String,
        fields: Option<Vec<String>>,
        slop: u32,
    },
    /// `field:value` from a query string: resolved by the field's kind when searching.
    FieldValue {
        field: String,
        value: String,
        prefix: bool,
        /// `field:"quoted value"`: the slop of the phrase.
        quoted: Option<u32>,
    },
    Term {
        field: String,
        value: Value,
    },
    AnyOf {
        field: String,
        values: Vec<Value>,
    },
    Range {
        field: String,
        lower: Bound<Value>,
        upper: Bound<Value>,
    },
    Bool {
        must: Vec<Node>,
        should: Vec<Node>,
        must_not: Vec<Node>,
        filter: Vec<Node>,
    },
    Boost(Box<Node>, f32),
    /// A query string parsed when the search runs (so `SearchRequest::new("text")` reports syntax
    /// errors from `search`).
    Unparsed(String),
}

/// A query. Build one with the functions below or parse a query string with [`Query::parse`]; a `&str`
/// converts into a query string parsed when the search runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub(crate) node: Node,
}

impl From<&str> for Query {
    fn from(s: &str) -> Self {
        Query {
            node: Node::Unparsed(s.to_string()),
        }
    }
}

impl From<String> for Query {
    fn from(s: String) -> Self {
        Query {
            node: Node::Unparsed(s),
        }
    }
}

impl Query {
    /// Every document (score 0): combine with filters and a sort to list documents.
    #[must_use]
    pub fn all() -> Query {
        Query { node: Node::All }
    }

    /// Words matched in every text field (OR, BM25F-ranked, typo tolerant when the index is).
    #[must_use]
    pub fn text(text: &str) -> Query {
        Query {
            node: Node::Words {
                text: text.to_string(),
                fields: None,
                require_all: false,
                prefix: PrefixMode::No,
                typos: true,
            },
        }
    }

    /// Words matched in the given text fields only.
    #[must_use]
    pub fn text_in(fields: &[&str], text: &str) -> Query {
        Query {
            node: Node::Words {
                text: text.to_string(),
                fields: Some(fields.iter().map(|s| s.to_string()).collect()),
                require_all: false,
                prefix: PrefixMode::No,
                typos: true,
            },
        }
    }

    /// Words that must all be present (AND), ranked by BM25F.
    #[must_use]
    pub fn all_words(text: &str) -> Query {
        Query {
            node: Node::Words {
                text: text.to_string(),
                fields: None,
                require_all: true,
                prefix: PrefixMode::No,
                typos: true,
            },
        }
    }

    /// The words of `text` as a phrase, in every text field.
    #[must_use]
    pub fn phrase(text: &str) -> Query {
        Query::phrase_slop(text, 0)
    }

    /// A phrase whose words may be up to `slop` positions apart.
    #[must_use]
    pub fn phrase_slop(text: &str, slop: u32) -> Query {
        Query {
            node: Node::Phrase {
                text: text.to_string(),
                fields: None,
                slop,
            },
        }
    }

    /// Words starting with `prefix` (after analysis: `runnin` finds `running`, indexed as `run`).
    #[must_use]
    pub fn prefix(prefix: &str) -> Query {
        Query {
            node: Node::Words {
                text: prefix.to_string(),
                fields: None,
                require_all: false,
                prefix: PrefixMode::Always,
                typos: false,
            },
        }
    }

    /// An exact value of a keyword, numeric, date or id field (score 1 as a clause, 0 as a filter).
    #[must_use]
    pub fn term(field: &str, value: impl Into<Value>) -> Query {
        Query {
            node: Node::Term {
                field: field.to_string(),
                value: value.into(),
            },
        }
    }

    /// Any of several exact values.
    #[must_use]
    pub fn any_of<V: Into<Value>>(field: &str, values: impl IntoIterator<Item = V>) -> Query {
        Query {
            node: Node::AnyOf {
                field: field.to_string(),
                values: values.into_iter().map(Into::into).collect(),
            },
        }
    }

    /// A range of a numeric or date field: `Query::range("price", 10.0..=20.0)`, `Query::range("likes", 5u64..)`.
    #[must_use]
    pub fn range<V: Into<Value> + Clone>(field: &str, range: impl RangeBounds<V>) -> Query {
        let map = |b: Bound<&V>| match b {
            Bound::Included(v) => Bound::Included(v.clone().into()),
            Bound::Excluded(v) => Bound::Excluded(v.clone().into()),
            Bound::Unbounded => Bound::Unbounded,
        };
        Query {
            node: Node::Range {
                field: field.to_string(),
                lower: map(range.start_bound()),
                upper: map(range.end_bound()),
            },
        }
    }

    /// A boolean combination.
    pub fn bool() -> BoolBuilder {
        BoolBuilder::default()
    }

    /// This query with its score multiplied by `boost`.
    #[must_use]
    pub fn boost(self, boost: f32) -> Query {
        Query {
            node: Node::Boost(Box::new(self.node), boost),
        }
    }

    /// Parses a query string (see the [module docs](self) for the syntax).
    ///
    /// # Errors
    /// [`Error::QuerySyntax`] for an unclosed quote, an empty `field:` or a bad range bound.
    pub fn parse(input: &str) -> Result<Query> {
        Ok(Query {
            node: parse(input)?,
        })
    }
}

/// Builds a boolean query: `must` clauses are required and scored, `should` clauses are optional and
/// scored (at least one must match when there is no `must`), `must_not` excludes, `filter` is required
/// but does not change the score.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct BoolBuilder {
    must: Vec<Node>,
    should: Vec<Node>,
    must_not: Vec<Node>,
    filter: Vec<Node>,
}

impl BoolBuilder {
    /// A required, scored clause.
    pub fn must(mut self, q: impl Into<Query>) -> Self {
        self.must.push(q.into().node);
        self
    }
    /// An optional, scored clause.
    pub fn should(mut self, q: impl Into<Query>) -> Self {
        self.should.push(q.into().node);
        self
    }
    /// An excluding clause.
    pub fn must_not(mut self, q: impl Into<Query>) -> Self {
        self.must_not.push(q.into().node);
        self
    }
    /// A required clause that does not affect the score.
    pub fn filter(mut self, q: impl Into<Query>) -> Self {
        self.filter.push(q.into().node);
        self
    }
    /// The query.
    #[must_use]
    pub fn build(self) -> Query {
        Query {
            node: Node::Bool {
                must: self.must,
                should: self.should,
                must_not: self.must_not,
                filter: self.filter,
            },
        }
    }
}

impl From<BoolBuilder> for Query {
    fn from(b: BoolBuilder) -> Self {
        b.build()
    }
}

fn syntax(position: usize, message: impl Into<String>) -> Error {
    Error::QuerySyntax {
        position,
        message: message.into(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Occ {
    Should,
    Must,
    MustNot,
}

/// Parses the query-string syntax into a boolean node of clauses.
pub(crate) fn parse(input: &str) -> Result<Node> {
    let bytes = input.as_bytes();
    let mut i = 0;
    let mut must = Vec::new();
    let mut should = Vec::new();
    let mut must_not = Vec::new();
    let n = bytes.len();
    while i < n {
        // skip whitespace
        let c = input[i..].chars().next().unwrap_or(' ');
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let mut occ = Occ::Should;
        if c == '+' || c == '-' {
            let next = input[i + 1..].chars().next();
            match next {
                Some(nc) if !nc.is_whitespace() && nc != '+' && nc != '-' => {
                    occ = if c == '+' { Occ::Must } else { Occ::MustNot };
                    i += 1;
                }
                _ => {
                    // a lone or repeated sign is punctuation
                    i += 1;
                    continue;
                }
            }
        }
        let start = i;
        let node = if bytes[i] == b'"' {
            let (text, end) = quoted(input, i)?;
            let (slop, end) = slop_suffix(input, end)?;
            i = end;
            Node::Phrase {
                text,
                fields: None,
                slop,
            }
        } else {
            // a bare token up to whitespace (quotes inside end it only after `field:`)
            let mut j = i;
            while j < n {
                let ch = input[j..].chars().next().unwrap_or(' ');
                if ch.is_whitespace() {
                    break;
                }
                if ch == ':' {
                    break;
                }
                j += ch.len_utf8();
            }
            let head = &input[i..j];
            if j < n && bytes[j] == b':' && is_field_name(head) {
                let field = head.to_string();
                let vstart = j + 1;
                if vstart >= n || input[vstart..].starts_with(char::is_whitespace) {
                    return Err(syntax(vstart, format!("`{field}:` has no value")));
                }
                if bytes[vstart] == b'"' {
                    let (text, end) = quoted(input, vstart)?;
                    let (slop, end) = slop_suffix(input, end)?;
                    i = end;
                    Node::FieldValue {
                        field,
                        value: text,
                        prefix: false,
                        quoted: Some(slop),
                    }
                } else {
                    let mut k = vstart;
                    while k < n {
                        let ch = input[k..].chars().next().unwrap_or(' ');
                        if ch.is_whitespace() {
                            break;
                        }
                        k += ch.len_utf8();
                    }
                    i = k;
                    field_value(field, &input[vstart..k], vstart)?
                }
            } else {
                // plain word (a `:` not after a field name is part of the text)
                let mut k = j;
                while k < n {
                    let ch = input[k..].chars().next().unwrap_or(' ');
                    if ch.is_whitespace() {
                        break;
                    }
                    k += ch.len_utf8();
                }
                i = k;
                let raw = &input[start..k];
                let at_end = k == n;
                if let Some(stem) = raw.strip_suffix('*').filter(|s| !s.is_empty()) {
                    Node::Words {
                        text: stem.to_string(),
                        fields: None,
                        require_all: false,
                        prefix: PrefixMode::Always,
                        typos: false,
                    }
                } else {
                    Node::Words {
                        text: raw.to_string(),
                        fields: None,
                        require_all: false,
                        prefix: if at_end {
                            PrefixMode::AsYouType
                        } else {
                            PrefixMode::No
                        },
                        typos: true,
                    }
                }
            }
        };
        match occ {
            Occ::Should => should.push(node),
            Occ::Must => must.push(node),
            Occ::MustNot => must_not.push(node),
        }
    }
    Ok(Node::Bool {
        must,
        should,
        must_not,
        filter: Vec::new(),
    })
}

fn is_field_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('_')
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '-')
        && s.chars().next().is_some_and(char::is_alphabetic)
}

/// Reads `"..."` starting at the quote at `at`; returns the inner text and the index after the closing
/// quote.
fn quoted(input: &str, at: usize) -> Result<(String, usize)> {
    let rest = &input[at + 1..];
    match rest.find('"') {
        Some(end) => Ok((rest[..end].to_string(), at + 1 + end + 1)),
        None => Err(syntax(at, "unclosed quote")),
    }
}

/// Reads an optional `~N` after a phrase.
fn slop_suffix(input: &str, at: usize) -> Result<(u32, usize)> {
    if !input[at..].starts_with('~') {
        return Ok((0, at));
    }
    let digits: String = input[at + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    if digits.is_empty() {
        return Ok((0, at + 1));
    }
    let slop = digits
        .parse::<u32>()
        .map_err(|_| syntax(at + 1, "phrase slop too large"))?;
    Ok((slop, at + 1 + digits.len()))
}

fn field_value(field: String, raw: &str, at: usize) -> Result<Node> {
    for (op, lower) in [(">=", true), ("<=", false), (">", true), ("<", false)] {
        if let Some(num) = raw.strip_prefix(op) {
            let v = parse_number(num).ok_or_else(|| {
                syntax(at + op.len(), format!("`{num}` is not a number in a range"))
            })?;
            let inclusive = op.len() == 2;
            let b = if inclusive {
                Bound::Included(v)
            } else {
                Bound::Excluded(v)
            };
            let (lower, upper) = if lower {
                (b, Bound::Unbounded)
            } else {
                (Bound::Unbounded, b)
            };
            return Ok(Node::Range {
                field,
                lower,
                upper,
            });
        }
    }
    if let Some(p) = raw.strip_suffix('*').filter(|s| !s.is_empty()) {
        return Ok(Node::FieldValue {
            field,
            value: p.to_string(),
            prefix: true,
            quoted: None,
        });
    }
    Ok(Node::FieldValue {
        field,
        value: raw.to_string(),
        prefix: false,
        quoted: None,
    })
}

fn parse_number(s: &str) -> Option<Value> {
    if let Ok(u) = s.parse::<u64>() {
        return Some(Value::U64(u));
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(Value::I64(i));
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Value::F64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clauses(s: &str) -> (Vec<Node>, Vec<Node>, Vec<Node>) {
        match parse(s).unwrap() {
            Node::Bool {
                must,
                should,
                must_not,
                ..
            } => (must, should, must_not),
            _ => unreachable!(),
        }
    }

    #[test]
    fn parses_the_syntax() {
        let (must, should, must_not) =
            clauses(r#"+trail "running shoe"~2 -leather name:boot likes:>=10 boo* x"#);
        assert_eq!(must.len(), 1);
        assert_eq!(must_not.len(), 1);
        assert_eq!(should.len(), 5);
        assert!(matches!(&should[0], Node::Phrase { slop: 2, .. }));
        assert!(
            matches!(&should[1], Node::FieldValue { field, value, prefix: false, quoted: None } if field == "name" && value == "boot")
        );
        assert!(matches!(
            &should[2],
            Node::Range {
                lower: Bound::Included(Value::U64(10)),
                upper: Bound::Unbounded,
                ..
            }
        ));
        assert!(matches!(
            &should[3],
            Node::Words {
                prefix: PrefixMode::Always,
                ..
            }
        ));
        assert!(matches!(
            &should[4],
            Node::Words {
                prefix: PrefixMode::AsYouType,
                ..
            }
        ));
    }

    #[test]
    fn syntax_errors_are_typed() {
        for bad in [r#"a "b"#, "name:", "name: x", "likes:>abc", r#"t:"open"#] {
            assert!(
                matches!(parse(bad), Err(Error::QuerySyntax { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn lenient_on_user_text() {
        for ok in [
            "a - b",
            "+",
            "-",
            "++x",
            "3:1 ratio",
            "AND OR NOT",
            "*",
            "**",
            ":",
            "x:y:z",
            "é:ü",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
    }
}
