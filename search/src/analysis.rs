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

use std::cell::RefCell;
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
    /// surface words that typo tolerance and prefix search match against. For a stemming analyzer the
    /// companion field holds only the words that stemming changes (`studies`, `running`): a word that
    /// stems to itself (`protein`) is a term of the stemmed field already, and queries read both
    /// dictionaries. The name is the one the companion has always had, so an index written when the
    /// companion held every word reopens and is read the same way.
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
    /// A stemming field and its companion index the same values with the same steps up to stemming,
    /// so they share one pass over each value (see [`SharedPass`]): whichever of the two meets a value
    /// first tokenizes it and leaves the words for the other. Only the analyzers registered here (used
    /// while indexing) share passes; query-time analyzers come from [`Analyzer::build`].
    ///
    /// A words companion shares its name with a user field's analyzer of the same settings without
    /// stemming, which must keep its term frequencies: so every companion is registered first and
    /// every field's own analyzer after it, and on such a clash the plain analyzer wins (the
    /// companion field, indexed without frequencies, gets the same index from either; the stemming
    /// field then analyzes on its own, since its companion no longer shares).
    pub(crate) fn register_all<'a>(
        analyzers: impl Iterator<Item = &'a Analyzer> + Clone,
        manager: &tantivy::tokenizer::TokenizerManager,
    ) {
        let names: std::collections::HashSet<String> =
            analyzers.clone().map(Analyzer::name).collect();
        for a in analyzers.clone().filter(|a| a.is_tokenized()) {
            let words = a.words_analyzer();
            if words.name() != a.name() {
                manager.register(&words.name(), a.build_companion());
            }
        }
        for a in analyzers {
            let shared = !names.contains(&a.words_name());
            manager.register(&a.name(), a.build_indexing(shared));
        }
    }

    /// Whether the analyzer stems its words.
    pub(crate) fn stems(&self) -> bool {
        self.pass_key().is_some()
    }

    /// The pass key of a stemming analyzer: the steps its companion shares with it.
    fn pass_key(&self) -> Option<(Language, bool)> {
        match *self {
            Analyzer::Language {
                language,
                stopwords,
                stemming: true,
            } => Some((language, stopwords)),
            _ => None,
        }
    }

    /// The analyzer a field is indexed with: for a stemming analyzer whose companion shares its
    /// passes, a [`SharedPass`] giving stems; else [`Analyzer::build`].
    fn build_indexing(&self, shared: bool) -> TextAnalyzer {
        match self.pass_key() {
            Some(key) if shared => SharedPass::new(key, PassOutput::Stems).into(),
            _ => self.build(),
        }
    }

    /// The analyzer of this analyzer's words companion field, for indexing: for a stemming analyzer,
    /// a [`SharedPass`] giving each value's distinct words that stemming changes; else the words analyzer
    /// followed by [`DistinctWords`].
    fn build_companion(&self) -> TextAnalyzer {
        match self.pass_key() {
            Some(key) => SharedPass::new(key, PassOutput::DistinctWords).into(),
            None => self.words_analyzer().build_distinct(),
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

/// Sets of the stem cache of a query-time analyzer (two words per set).
const STEM_SETS: usize = 2048;

/// Sets of the stem cache an indexing thread shares between its fields (see [`SharedPass`]): larger,
/// since it serves every value the thread indexes (16 384 words, about 800 KB, miss rate about 6 % on
/// SciFact against 20 % for 4 096 direct-mapped slots).
const INDEXING_STEM_SETS: usize = 8192;

/// The stem cache: two-way set associative by hash, `(word, stem)` per slot, small enough to stay in
/// the CPU's caches (frequent words keep their place; the less recently used word of a set gives way).
struct StemCache {
    sets: usize,
    slots: Vec<(Inline, Inline)>,
}

impl Default for StemCache {
    fn default() -> Self {
        StemCache::with_sets(STEM_SETS)
    }
}

impl StemCache {
    /// A cache of `sets` sets (a power of two), allocated on first insert.
    fn with_sets(sets: usize) -> Self {
        StemCache {
            sets,
            slots: Vec::new(),
        }
    }

    /// The first slot of `k`'s set.
    fn set(&self, k: &Inline) -> usize {
        let mut h = WordHasher::default();
        for c in k.chunks_exact(8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            h.add(u64::from_le_bytes(b));
        }
        ((h.finish() >> 32) as usize & (self.sets - 1)) * 2
    }

    fn get(&mut self, k: &Inline) -> Option<&Inline> {
        if self.slots.is_empty() {
            return None;
        }
        let i = self.set(k);
        if self.slots[i].0 == *k {
            return Some(&self.slots[i].1);
        }
        if self.slots[i + 1].0 == *k {
            // most recently used first
            self.slots.swap(i, i + 1);
            return Some(&self.slots[i].1);
        }
        None
    }

    fn insert(&mut self, k: Inline, stem: Inline) {
        if self.slots.is_empty() {
            self.slots = vec![([0u8; 24], [0u8; 24]); self.sets * 2];
        }
        let i = self.set(&k);
        self.slots[i + 1] = self.slots[i];
        self.slots[i] = (k, stem);
    }
}

thread_local! {
    /// The stem caches of this thread's indexing analyzers, one per language: shared by every
    /// stemming field the thread indexes, so that a word stemmed for one field is found by the others.
    static STEMS: RefCell<Vec<(Language, StemCache)>> = const { RefCell::new(Vec::new()) };
}

/// Writes the stem of each of `words` into `stems` (same index), through this thread's cache for
/// `language`.
fn stem_all(
    language: Language,
    words: &[Token],
    stems: &mut Vec<String>,
    stemmer: &mut TextAnalyzer,
) {
    if stems.len() < words.len() {
        stems.resize(words.len(), String::new());
    }
    STEMS.with(|c| {
        let mut c = c.borrow_mut();
        let i = match c.iter().position(|(l, _)| *l == language) {
            Some(i) => i,
            None => {
                c.push((language, StemCache::with_sets(INDEXING_STEM_SETS)));
                c.len() - 1
            }
        };
        let cache = &mut c[i].1;
        for (w, out) in words.iter().zip(stems.iter_mut()) {
            stem_into(&w.text, out, stemmer, cache);
        }
    });
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
        stem_in_place(self.tail.token_mut(), self.stemmer, self.cache);
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

/// Replaces the token's text by its stem, from `cache` when it holds the word.
fn stem_in_place(token: &mut Token, stemmer: &mut TextAnalyzer, cache: &mut StemCache) {
    let key = inline(&token.text);
    if let Some(stem) = key.as_ref().and_then(|k| cache.get(k)) {
        let stem = inline_str(stem);
        if stem != token.text {
            token.text.clear();
            token.text.push_str(stem);
        }
        return;
    }
    let stem = {
        let mut one = stemmer.token_stream(&token.text);
        if one.advance() {
            one.token().text.clone()
        } else {
            token.text.clone()
        }
    };
    if let (Some(k), Some(v)) = (key, inline(&stem)) {
        cache.insert(k, v);
    }
    token.text = stem;
}

/// Writes the stem of `word` into `out`, from `cache` when it holds the word.
fn stem_into(word: &str, out: &mut String, stemmer: &mut TextAnalyzer, cache: &mut StemCache) {
    out.clear();
    let key = inline(word);
    if let Some(stem) = key.as_ref().and_then(|k| cache.get(k)) {
        out.push_str(inline_str(stem));
        return;
    }
    let mut one = stemmer.token_stream(word);
    out.push_str(if one.advance() {
        &one.token().text
    } else {
        word
    });
    drop(one);
    if let (Some(k), Some(v)) = (key, inline(out)) {
        cache.insert(k, v);
    }
}

/// What [`DistinctWords`] compares words by: a 64-bit hash of the text and its length (so that words
/// differing only in trailing zero bytes differ).
fn word_hash(word: &str) -> u64 {
    let mut h = WordHasher::default();
    h.write(word.as_bytes());
    h.add(word.len() as u64);
    h.finish()
}

/// What a [`SharedPass`] gives: the stems of a stemming field, or the distinct words of a value that
/// stemming changes, for its companion field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PassOutput {
    Stems,
    DistinctWords,
}

/// One value's tokens before stemming (tokenized, lowercased, folded, stopwords removed) and their
/// stems, kept by the analyzer that met the value first for the other analyzer of its pair.
struct Pass {
    key: (Language, bool),
    text: String,
    tokens: Vec<Token>,
    /// The stem of each token.
    stems: Vec<String>,
    len: usize,
    /// Not yet taken by the other analyzer.
    live: bool,
    /// When it was recorded (the oldest live pass is replaced first).
    stamp: u64,
}

/// Passes kept per thread: tantivy indexes a document's fields in field order on one thread, so the
/// other analyzer of a pair meets the value a few values later at most.
const PASSES_KEPT: usize = 4;

thread_local! {
    /// The passes recorded on this thread, and a counter for their stamps.
    static PASSES: RefCell<(Vec<Pass>, u64)> = const { RefCell::new((Vec::new(), 0)) };
}

/// The indexing analyzer of a stemming field and of its words companion, sharing one pass over each
/// value: tantivy gives both fields the same value (the companion field is fed every value of its
/// text fields), so the analyzer that meets a value first runs the steps up to stemming, stems each
/// token (through the thread's stem cache) and records tokens and stems on the thread; the other
/// finds them (same steps, same text: compared in full, so a found pass is exactly what it would
/// have computed) and only picks its output: the stems, or the distinct words whose stem differs.
/// A pass nobody takes is simply replaced later; output never depends on whether one was found.
struct SharedPass {
    key: (Language, bool),
    output: PassOutput,
    /// Tokenize, drop long tokens, lowercase, fold, optionally drop stopwords.
    base: TextAnalyzer,
    stemmer: TextAnalyzer,
    seen: Seen,
    tokens: Vec<Token>,
    stems: Vec<String>,
    len: usize,
}

impl SharedPass {
    fn new(key: (Language, bool), output: PassOutput) -> Self {
        let (language, stopwords) = key;
        SharedPass {
            key,
            output,
            base: Analyzer::Language {
                language,
                stopwords,
                stemming: false,
            }
            .build(),
            stemmer: stemmer(language),
            seen: Seen::default(),
            tokens: Vec::new(),
            stems: Vec::new(),
            len: 0,
        }
    }

    /// Takes the recorded pass over `text`, if this thread has one: its tokens become ours.
    fn take_pass(&mut self, text: &str) -> bool {
        PASSES.with(|p| {
            let mut p = p.borrow_mut();
            let found =
                p.0.iter_mut()
                    .find(|r| r.live && r.key == self.key && r.text == text);
            match found {
                Some(r) => {
                    std::mem::swap(&mut r.tokens, &mut self.tokens);
                    std::mem::swap(&mut r.stems, &mut self.stems);
                    self.len = r.len;
                    r.live = false;
                    true
                }
                None => false,
            }
        })
    }

    /// Runs the steps before stemming over `text` into our tokens and records them for the other
    /// analyzer of the pair.
    fn run_pass(&mut self, text: &str) {
        let mut len = 0;
        let mut stream = self.base.token_stream(text);
        while stream.advance() {
            let t = stream.token();
            match self.tokens.get_mut(len) {
                Some(slot) => copy_token(slot, t),
                None => self.tokens.push(t.clone()),
            }
            len += 1;
        }
        drop(stream);
        self.len = len;
        let mine = &self.tokens[..len];
        stem_all(self.key.0, mine, &mut self.stems, &mut self.stemmer);
        let stems = &self.stems[..len];
        PASSES.with(|p| {
            let mut p = p.borrow_mut();
            let (passes, clock) = &mut *p;
            *clock += 1;
            let slot = if passes.len() < PASSES_KEPT {
                passes.push(Pass {
                    key: self.key,
                    text: String::new(),
                    tokens: Vec::new(),
                    stems: Vec::new(),
                    len: 0,
                    live: false,
                    stamp: 0,
                });
                passes.len() - 1
            } else {
                // a taken pass, else the oldest
                (0..passes.len())
                    .min_by_key(|&i| (passes[i].live, passes[i].stamp))
                    .unwrap_or(0)
            };
            let r = &mut passes[slot];
            r.key = self.key;
            r.text.clear();
            r.text.push_str(text);
            for (i, t) in mine.iter().enumerate() {
                match r.tokens.get_mut(i) {
                    Some(slot) => copy_token(slot, t),
                    None => r.tokens.push(t.clone()),
                }
            }
            if r.stems.len() < stems.len() {
                r.stems.resize(stems.len(), String::new());
            }
            for (to, from) in r.stems.iter_mut().zip(stems) {
                to.clear();
                to.push_str(from);
            }
            r.len = mine.len();
            r.live = true;
            r.stamp = *clock;
        });
    }
}

/// Copies `from` into `to`, reusing `to`'s text buffer.
fn copy_token(to: &mut Token, from: &Token) {
    to.offset_from = from.offset_from;
    to.offset_to = from.offset_to;
    to.position = from.position;
    to.position_length = from.position_length;
    to.text.clear();
    to.text.push_str(&from.text);
}

impl Clone for SharedPass {
    fn clone(&self) -> Self {
        SharedPass::new(self.key, self.output)
    }
}

impl Tokenizer for SharedPass {
    type TokenStream<'a> = SharedPassStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> SharedPassStream<'a> {
        if !self.take_pass(text) {
            self.run_pass(text);
        }
        let tokens = &mut self.tokens[..self.len];
        let stems = &mut self.stems[..self.len];
        match self.output {
            PassOutput::Stems => {
                for (t, stem) in tokens.iter_mut().zip(stems.iter_mut()) {
                    std::mem::swap(&mut t.text, stem);
                }
            }
            PassOutput::DistinctWords => self.seen.clear(),
        }
        SharedPassStream {
            tokens,
            stems,
            next: 0,
            output: self.output,
            seen: &mut self.seen,
            none: Token::default(),
        }
    }
}

struct SharedPassStream<'a> {
    /// The value's tokens: stems for [`PassOutput::Stems`], else the words before stemming.
    tokens: &'a mut [Token],
    /// For [`PassOutput::DistinctWords`], the stem of each token.
    stems: &'a [String],
    /// The index of the next token; the current one is just before it.
    next: usize,
    output: PassOutput,
    seen: &'a mut Seen,
    /// Returned before the first token.
    none: Token,
}

impl TokenStream for SharedPassStream<'_> {
    fn advance(&mut self) -> bool {
        while let Some(token) = self.tokens.get_mut(self.next) {
            self.next += 1;
            match self.output {
                PassOutput::Stems => return true,
                PassOutput::DistinctWords => {
                    // a word that stems to itself is in the stemmed field's dictionary already
                    let changed = self
                        .stems
                        .get(self.next - 1)
                        .is_none_or(|stem| *stem != token.text);
                    if changed && self.seen.insert(word_hash(&token.text)) {
                        return true;
                    }
                }
            }
        }
        false
    }

    fn token(&self) -> &Token {
        match self.next.checked_sub(1) {
            Some(i) => self.tokens.get(i).unwrap_or(&self.none),
            None => &self.none,
        }
    }

    fn token_mut(&mut self) -> &mut Token {
        match self.next.checked_sub(1) {
            Some(i) if i < self.tokens.len() => &mut self.tokens[i],
            _ => &mut self.none,
        }
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
            if self.seen.insert(word_hash(&self.tail.token().text)) {
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

    /// The indexing analyzers of a stemming field and its companion give what the plain analyzers
    /// give, whichever meets a value first, with values repeated, skipped by one side, or analyzed
    /// by another pair (other settings) in between.
    #[test]
    fn shared_passes_give_what_plain_analyzers_give() {
        use rand::{Rng, SeedableRng};
        let words: Vec<&str> = "Running runs the of Cells cell café proteins studies a and \
             Inflammatory x 42 généreux - ,"
            .split(' ')
            .collect();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(9);
        let settings = [
            Analyzer::english(),
            Analyzer::english().with_stopwords(false),
            Analyzer::language(Language::French),
        ];
        let mut pairs: Vec<_> = settings
            .iter()
            .map(|a| (a.build_indexing(true), a.build_companion()))
            .collect();
        let mut plain: Vec<_> = settings
            .iter()
            .map(|a| (a.build(), a.words_analyzer().build_distinct()))
            .collect();
        // the companion keeps only the words that stemming changes
        let mut stem_of: Vec<_> = settings
            .iter()
            .map(|a| stemmer(a.pass_key().map_or(Language::English, |k| k.0)))
            .collect();
        let mut texts: Vec<String> = Vec::new();
        for round in 0..400 {
            let text = if round % 7 == 3 && !texts.is_empty() {
                texts[rng.random_range(0..texts.len())].clone()
            } else {
                let n = rng.random_range(0..12);
                (0..n)
                    .map(|_| words[rng.random_range(0..words.len())])
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            texts.push(text.clone());
            let k = rng.random_range(0..settings.len());
            let (stems, companion) = &mut pairs[k];
            let (want_stems, plain_words) = &mut plain[k];
            let want_words: Vec<Tok> = tokens(plain_words, &text)
                .into_iter()
                .filter(|t| stem_word(&mut stem_of[k], &t.text).as_ref() != Some(&t.text))
                .collect();
            // which side first, and sometimes only one side
            let order = rng.random_range(0..4);
            if order != 3 {
                let (first, second): (&mut TextAnalyzer, &mut TextAnalyzer) = if order == 0 {
                    (stems, companion)
                } else {
                    (companion, stems)
                };
                let a = tokens(first, &text);
                let b = tokens(second, &text);
                let (s, w) = if order == 0 { (a, b) } else { (b, a) };
                assert_eq!(s, tokens(want_stems, &text), "{text}");
                assert_eq!(w, want_words, "{text}");
            } else {
                assert_eq!(tokens(stems, &text), tokens(want_stems, &text), "{text}");
            }
        }
        // the analyzers of a clone start empty and still agree
        let (mut s, mut w) = (pairs[0].0.clone(), pairs[0].1.clone());
        let text = "Cells cell cells proteins protein";
        let words: Vec<String> = tokens(&mut w, text).into_iter().map(|t| t.text).collect();
        assert_eq!(words, ["cells", "proteins"]);
        assert_eq!(tokens(&mut s, text), tokens(&mut plain[0].0, text));
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
