//! Text analysis: how field values and query words become index terms.
//!
//! Every text field has an [`Analyzer`]. The default, [`Analyzer::english`], does what a search user
//! expects from Elasticsearch's `english` analyzer:
//!
//! 1. splits on anything that is not a letter or digit (tokens longer than 40 bytes are dropped),
//! 2. lowercases,
//! 3. folds accents to ASCII (`café` → `cafe`),
//! 4. removes English stopwords (`the`, `of`, `and`…),
//! 5. stems with the Snowball English (Porter2) stemmer (`running`, `runs` → `run`).
//!
//! [`Analyzer::language`] picks another Snowball language (with that language's stopword list when tantivy
//! has one), [`Analyzer::simple`] stops after step 3 (no stopwords, no stemming) and [`Analyzer::raw`]
//! keeps the whole value as one unchanged token (identifiers, tags). Query words go through the same
//! analyzer as the field they are matched against, so `Running` finds documents that say `runs`.
//!
//! ```
//! use ember_search::Analyzer;
//! assert_eq!(Analyzer::english().terms("The runners are running"), ["runner", "run"]);
//! assert_eq!(Analyzer::simple().terms("Café au lait"), ["cafe", "au", "lait"]);
//! assert_eq!(Analyzer::raw().terms("SKU-42 x"), ["SKU-42 x"]);
//! ```

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, TokenStream,
};

pub use tantivy::tokenizer::Language;

/// Longest token kept, in bytes (longer ones are usually junk: base64, URLs).
const MAX_TOKEN_BYTES: usize = 40;

/// How a text field's values (and the query words matched against it) are turned into terms.
///
/// See the [module docs](self) for what each step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Analyzer {
    /// Tokenize, lowercase, fold to ASCII, optionally drop the language's stopwords and stem.
    Language {
        /// The Snowball language for stemming and stopwords.
        language: Language,
        /// Remove stopwords (ignored for languages tantivy has no list for).
        stopwords: bool,
        /// Stem tokens.
        stemming: bool,
    },
    /// Tokenize, lowercase and fold to ASCII; nothing removed, nothing stemmed.
    Simple,
    /// The whole value is one token, unchanged (exact match only).
    Raw,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer::english()
    }
}

impl Analyzer {
    /// English: stopwords removed, Porter2 stemming. The default of every text field.
    #[must_use]
    pub fn english() -> Self {
        Analyzer::language(Language::English)
    }

    /// Another language's stemmer and stopword list.
    ///
    /// ```
    /// use ember_search::{Analyzer, Language};
    /// assert_eq!(Analyzer::language(Language::French).terms("les chanteuses"), ["chanteux"]);
    /// ```
    #[must_use]
    pub fn language(language: Language) -> Self {
        Analyzer::Language {
            language,
            stopwords: true,
            stemming: true,
        }
    }

    /// Lowercase and ASCII folding only.
    #[must_use]
    pub fn simple() -> Self {
        Analyzer::Simple
    }

    /// The whole value as one exact token.
    #[must_use]
    pub fn raw() -> Self {
        Analyzer::Raw
    }

    /// This analyzer with stopword removal turned on or off (no effect on `Simple` and `Raw`).
    ///
    /// ```
    /// use ember_search::Analyzer;
    /// assert_eq!(Analyzer::english().with_stopwords(false).terms("the cats"), ["the", "cat"]);
    /// ```
    #[must_use]
    pub fn with_stopwords(self, on: bool) -> Self {
        match self {
            Analyzer::Language {
                language, stemming, ..
            } => Analyzer::Language {
                language,
                stopwords: on,
                stemming,
            },
            other => other,
        }
    }

    /// This analyzer with stemming turned on or off (no effect on `Simple` and `Raw`).
    #[must_use]
    pub fn with_stemming(self, on: bool) -> Self {
        match self {
            Analyzer::Language {
                language,
                stopwords,
                ..
            } => Analyzer::Language {
                language,
                stopwords,
                stemming: on,
            },
            other => other,
        }
    }

    /// The terms `text` becomes, in order (what the index stores for a field with this analyzer).
    #[must_use]
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.build();
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    /// Whether words are split and normalized (everything but [`Analyzer::Raw`]).
    pub(crate) fn is_tokenized(&self) -> bool {
        !matches!(self, Analyzer::Raw)
    }

    /// The name the analyzer is registered under in tantivy (derived from its settings, so an index
    /// reopened from disk finds the same one).
    pub(crate) fn name(&self) -> String {
        match self {
            Analyzer::Language {
                language,
                stopwords,
                stemming,
            } => format!(
                "ember_{}_{}{}",
                format!("{language:?}").to_lowercase(),
                if *stopwords { "s" } else { "" },
                if *stemming { "t" } else { "" }
            ),
            Analyzer::Simple => "ember_simple".to_string(),
            Analyzer::Raw => "ember_raw".to_string(),
        }
    }

    /// The name of the companion "words" analyzer: the same steps without stemming. Its terms are the
    /// surface words that typo tolerance and prefix search match against.
    pub(crate) fn words_name(&self) -> String {
        self.words_analyzer().name()
    }

    pub(crate) fn words_analyzer(&self) -> Analyzer {
        self.with_stemming(false)
    }

    /// Builds the tantivy analyzer.
    pub(crate) fn build(&self) -> TextAnalyzer {
        match *self {
            Analyzer::Raw => TextAnalyzer::builder(RawTokenizer::default()).build(),
            Analyzer::Simple => TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
                .filter(LowerCaser)
                .filter(AsciiFoldingFilter)
                .build(),
            Analyzer::Language {
                language,
                stopwords,
                stemming,
            } => {
                let stop = if stopwords {
                    StopWordFilter::new(language)
                } else {
                    None
                };
                let base = TextAnalyzer::builder(SimpleTokenizer::default())
                    .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
                    .filter(LowerCaser)
                    .filter(AsciiFoldingFilter);
                match (stop, stemming) {
                    (Some(stop), true) => base.filter(stop).filter(Stemmer::new(language)).build(),
                    (Some(stop), false) => base.filter(stop).build(),
                    (None, true) => base.filter(Stemmer::new(language)).build(),
                    (None, false) => base.build(),
                }
            }
        }
    }

    /// Registers this analyzer and its words companion with `manager`.
    pub(crate) fn register(&self, manager: &tantivy::tokenizer::TokenizerManager) {
        manager.register(&self.name(), self.build());
        if self.is_tokenized() {
            let words = self.words_analyzer();
            manager.register(&words.name(), words.build());
        }
    }
}

/// One analyzed token: its term, where it was in the original text, and its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tok {
    pub text: String,
    pub from: usize,
    pub to: usize,
    pub position: usize,
}

/// Runs `analyzer` over `text`, keeping offsets and positions.
pub(crate) fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Tok> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        let t = stream.token();
        out.push(Tok {
            text: t.text.clone(),
            from: t.offset_from,
            to: t.offset_to,
            position: t.position,
        });
    }
    out
}

/// The term a single already-normalized word becomes (stemmed), or `None` if the analyzer drops it.
pub(crate) fn stem_word(analyzer: &mut TextAnalyzer, word: &str) -> Option<String> {
    let mut stream = analyzer.token_stream(word);
    if stream.advance() {
        Some(stream.token().text.clone())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_stems_and_drops_stopwords() {
        let a = Analyzer::english();
        assert_eq!(a.terms("Running runs RUN"), ["run", "run", "run"]);
        assert_eq!(a.terms("the state of the art"), ["state", "art"]);
        assert_eq!(a.terms("Crème brûlée"), ["creme", "brule"]);
    }

    #[test]
    fn names_are_distinct_per_setting() {
        let names: std::collections::HashSet<String> = [
            Analyzer::english(),
            Analyzer::english().with_stopwords(false),
            Analyzer::english().with_stemming(false),
            Analyzer::language(Language::German),
            Analyzer::simple(),
            Analyzer::raw(),
        ]
        .iter()
        .map(Analyzer::name)
        .collect();
        assert_eq!(names.len(), 6);
        assert_eq!(Analyzer::english().words_name(), "ember_english_s");
    }

    #[test]
    fn long_tokens_dropped() {
        let long = "x".repeat(60);
        assert_eq!(Analyzer::simple().terms(&format!("a {long} b")), ["a", "b"]);
    }

    #[test]
    fn offsets_point_into_original_text() {
        let mut a = Analyzer::english().build();
        let text = "Les Running shoes";
        let toks = tokens(&mut a, text);
        assert_eq!(toks[1].text, "run");
        assert_eq!(&text[toks[1].from..toks[1].to], "Running");
        assert_eq!(toks[1].position, 1);
    }
}
