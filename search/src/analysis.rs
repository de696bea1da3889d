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

use std::hash::{BuildHasherDefault, Hasher};

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
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
        self.build_with(false)
    }

    /// Builds the tantivy analyzer, followed by [`DistinctWords`] for an analyzer without stemming.
    fn build_distinct(&self) -> TextAnalyzer {
        self.build_with(true)
    }

    fn build_with(&self, distinct: bool) -> TextAnalyzer {
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
                let stem = CachedStemmer(language);
                match (stop, stemming) {
                    (Some(stop), true) => base.filter(stop).filter(stem).build(),
                    (Some(stop), false) if distinct => {
                        base.filter(stop).filter(DistinctWords).build()
                    }
                    (Some(stop), false) => base.filter(stop).build(),
                    (None, true) => base.filter(stem).build(),
                    (None, false) if distinct => base.filter(DistinctWords).build(),
                    (None, false) => base.build(),
                }
            }
        }
    }

    /// Registers the analyzers of the text fields and their words companions with `manager`.
    ///
    /// The companion field only records which documents hold a word (no frequencies, no positions, no
    /// norms), so it is indexed through [`DistinctWords`]: a word repeated in a value is indexed once,
    /// which gives the same index for less work.
    ///
    /// A words companion shares its name with a user field's analyzer of the same settings without
    /// stemming, which must keep its term frequencies: so every companion is registered first and
    /// every field's own analyzer after it, and on such a clash the plain analyzer wins (the
    /// companion field, indexed without frequencies, gets the same index from either).
    pub(crate) fn register_all<'a>(
        analyzers: impl Iterator<Item = &'a Analyzer> + Clone,
        manager: &tantivy::tokenizer::TokenizerManager,
    ) {
        for a in analyzers.clone().filter(|a| a.is_tokenized()) {
            let words = a.words_analyzer();
            if words.name() != a.name() {
                manager.register(&words.name(), words.build_distinct());
            }
        }
        for a in analyzers {
            manager.register(&a.name(), a.build());
        }
    }
}

/// A fast hash for short words (the multiply-rotate hash of rustc's `FxHasher`), for the stem cache.
#[derive(Default, Clone, Copy)]
struct WordHasher(u64);

impl WordHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A word of up to 23 bytes, inline: its bytes, zero padded, and its length in the last byte (so a cache
/// lookup reads one table slot, not two heap strings).
type Inline = [u8; 24];

fn inline(word: &str) -> Option<Inline> {
    let b = word.as_bytes();
    if b.len() >= 24 {
        return None;
    }
    let mut k = [0u8; 24];
    k[..b.len()].copy_from_slice(b);
    k[23] = b.len() as u8;
    Some(k)
}

fn inline_str(k: &Inline) -> &str {
    std::str::from_utf8(&k[..usize::from(k[23]).min(23)]).unwrap_or_default()
}

/// Slots of the stem cache: direct mapped by hash, small enough to stay in the CPU's cache (frequent
/// words keep their slot; a rare word that collides simply takes it).
const STEM_SLOTS: usize = 4096;

/// The stem cache: `(word, stem)` per slot.
#[derive(Default)]
struct StemCache {
    slots: Vec<(Inline, Inline)>,
}

impl StemCache {
    fn slot(k: &Inline) -> usize {
        let mut h = WordHasher::default();
        for c in k.chunks_exact(8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            h.add(u64::from_le_bytes(b));
        }
        (h.finish() >> 32) as usize & (STEM_SLOTS - 1)
    }

    fn get(&self, k: &Inline) -> Option<&Inline> {
        let (key, stem) = self.slots.get(Self::slot(k))?;
        (key == k).then_some(stem)
    }

    fn insert(&mut self, k: Inline, stem: Inline) {
        if self.slots.is_empty() {
            self.slots = vec![([0u8; 24], [0u8; 24]); STEM_SLOTS];
        }
        let i = Self::slot(&k);
        self.slots[i] = (k, stem);
    }
}

/// The Snowball stemmer with a cache of the words it has stemmed: the same stems as tantivy's
/// [`Stemmer`], computed once per distinct word (a text repeats its words; a hash lookup is several
/// times cheaper than running the stemmer). The cache belongs to one analyzer instance and starts
/// empty in each clone, so indexing threads share nothing.
#[derive(Clone, Copy)]
struct CachedStemmer(Language);

impl TokenFilter for CachedStemmer {
    type Tokenizer<T: Tokenizer> = CachedStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> CachedStemmerFilter<T> {
        CachedStemmerFilter {
            inner: tokenizer,
            language: self.0,
            stemmer: stemmer(self.0),
            cache: StemCache::default(),
        }
    }
}

fn stemmer(language: Language) -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default())
        .filter(Stemmer::new(language))
        .build()
}

struct CachedStemmerFilter<T> {
    inner: T,
    language: Language,
    stemmer: TextAnalyzer,
    cache: StemCache,
}

impl<T: Clone> Clone for CachedStemmerFilter<T> {
    fn clone(&self) -> Self {
        CachedStemmerFilter {
            inner: self.inner.clone(),
            language: self.language,
            stemmer: stemmer(self.language),
            cache: StemCache::default(),
        }
    }
}

impl<T: Tokenizer> Tokenizer for CachedStemmerFilter<T> {
    type TokenStream<'a> = CachedStemmerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        CachedStemmerStream {
            tail: self.inner.token_stream(text),
            stemmer: &mut self.stemmer,
            cache: &mut self.cache,
        }
    }
}

struct CachedStemmerStream<'a, S> {
    tail: S,
    stemmer: &'a mut TextAnalyzer,
    cache: &'a mut StemCache,
}

impl<S: TokenStream> TokenStream for CachedStemmerStream<'_, S> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        let key = inline(&token.text);
        if let Some(stem) = key.as_ref().and_then(|k| self.cache.get(k)) {
            token.text.clear();
            token.text.push_str(inline_str(stem));
            return true;
        }
        let stem = {
            let mut one = self.stemmer.token_stream(&token.text);
            if one.advance() {
                one.token().text.clone()
            } else {
                token.text.clone()
            }
        };
        if let (Some(k), Some(v)) = (key, inline(&stem)) {
            self.cache.insert(k, v);
        }
        token.text = stem;
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

/// Drops the tokens already seen in the same value (compared by a 64-bit hash of their text), for
/// fields that record no frequencies or positions.
#[derive(Clone, Copy)]
struct DistinctWords;

/// Hashes that are already well mixed, used as their own hash.
#[derive(Default, Clone, Copy)]
struct SeenHasher(u64);

impl Hasher for SeenHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Seen = std::collections::HashSet<u64, BuildHasherDefault<SeenHasher>>;

impl TokenFilter for DistinctWords {
    type Tokenizer<T: Tokenizer> = DistinctWordsFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> DistinctWordsFilter<T> {
        DistinctWordsFilter {
            inner: tokenizer,
            seen: Seen::default(),
        }
    }
}

struct DistinctWordsFilter<T> {
    inner: T,
    seen: Seen,
}

impl<T: Clone> Clone for DistinctWordsFilter<T> {
    fn clone(&self) -> Self {
        DistinctWordsFilter {
            inner: self.inner.clone(),
            seen: Seen::default(),
        }
    }
}

impl<T: Tokenizer> Tokenizer for DistinctWordsFilter<T> {
    type TokenStream<'a> = DistinctWordsStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        self.seen.clear();
        DistinctWordsStream {
            tail: self.inner.token_stream(text),
            seen: &mut self.seen,
        }
    }
}

struct DistinctWordsStream<'a, S> {
    tail: S,
    seen: &'a mut Seen,
}

impl<S: TokenStream> TokenStream for DistinctWordsStream<'_, S> {
    fn advance(&mut self) -> bool {
        while self.tail.advance() {
            let mut h = WordHasher::default();
            h.write(self.tail.token().text.as_bytes());
            // the length too, so that words differing only in trailing zero bytes differ
            h.add(self.tail.token().text.len() as u64);
            if self.seen.insert(h.finish()) {
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
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
    fn cached_stems_equal_the_stemmer() {
        // the same stems as tantivy's Stemmer, on first sight and from the cache
        for language in [Language::English, Language::French, Language::German] {
            let mut plain = TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(LowerCaser)
                .filter(Stemmer::new(language))
                .build();
            let mut cached = TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(LowerCaser)
                .filter(CachedStemmer(language))
                .build();
            let text =
                "Running runners ran; the runner runs generously, générosité Häuser runs Running";
            let want = tokens(&mut plain, text);
            assert_eq!(tokens(&mut cached, text), want);
            assert_eq!(tokens(&mut cached, text), want);
            assert_eq!(tokens(&mut cached.clone(), text), want);
        }
    }

    #[test]
    fn distinct_words_keeps_first_occurrences() {
        let mut a = Analyzer::english().words_analyzer().build_distinct();
        let terms = |a: &mut TextAnalyzer, text: &str| -> Vec<String> {
            tokens(a, text).into_iter().map(|t| t.text).collect()
        };
        assert_eq!(
            terms(&mut a, "Cells and cells, the CELL cells"),
            ["cells", "cell"]
        );
        // each value starts afresh
        assert_eq!(terms(&mut a, "cells cells"), ["cells"]);
        assert_eq!(terms(&mut a.clone(), "cell"), ["cell"]);
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
