//! Snippets: the stored text is analyzed again with the field's analyzer, and every token whose term is
//! one the query matched (the exact stems, and the stems reached through typos and prefixes) is marked.
//! The fragment is the window of the requested length holding the most marks.

use std::collections::HashSet;

use tantivy::tokenizer::TextAnalyzer;

use crate::analysis::tokens;
use crate::search::Highlight;

/// Builds the best snippet of `text` of at most `max_chars` characters.
pub(crate) fn snippet(
    field: &str,
    analyzer: &mut TextAnalyzer,
    text: &str,
    terms: &HashSet<String>,
    max_chars: usize,
) -> Highlight {
    let toks = tokens(analyzer, text);
    let marked: Vec<(usize, usize)> = toks
        .iter()
        .filter(|t| terms.contains(&t.text))
        .map(|t| (t.from, t.to))
        .collect();
    let char_len = text.chars().count();
    if char_len <= max_chars {
        return Highlight {
            field: field.to_string(),
            fragment: text.to_string(),
            marks: marked.iter().map(|&(a, b)| a..b).collect(),
        };
    }
    // byte offset of each char boundary, to move by characters
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let byte_to_char = |b: usize| bounds.partition_point(|&x| x < b);
    // best window start: the marked token that begins the densest window
    let mut best = (0usize, 0usize); // (count, start char)
    for (i, &(from, _)) in marked.iter().enumerate() {
        let start = byte_to_char(from);
        let end = start + max_chars;
        let count = marked[i..]
            .iter()
            .take_while(|(_, to)| byte_to_char(*to) <= end)
            .count();
        if count > best.0 {
            best = (count, start);
        }
    }
    // a little context before the first mark, starting at a token boundary
    let mut start_char = if best.0 == 0 {
        0
    } else {
        best.1.saturating_sub(max_chars / 5)
    };
    if start_char > 0 {
        let start_byte = bounds[start_char];
        if let Some(t) = toks.iter().find(|t| t.from >= start_byte) {
            start_char = byte_to_char(t.from).min(best.1);
        }
    }
    let end_char = (start_char + max_chars).min(char_len);
    let mut end_byte = bounds[end_char];
    // do not cut a word in two at the end
    if let Some(t) = toks.iter().find(|t| t.from < end_byte && t.to > end_byte) {
        end_byte = t.from;
    }
    let start_byte = bounds[start_char];
    let end_byte = end_byte.max(start_byte);
    let fragment = text[start_byte..end_byte].trim_end().to_string();
    let marks = marked
        .iter()
        .filter(|&&(a, b)| a >= start_byte && b <= start_byte + fragment.len())
        .map(|&(a, b)| (a - start_byte)..(b - start_byte))
        .collect();
    Highlight {
        field: field.to_string(),
        fragment,
        marks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Analyzer;

    fn terms(words: &[&str]) -> HashSet<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn marks_stemmed_matches() {
        let mut a = Analyzer::english().build();
        let h = snippet("t", &mut a, "Runners keep running", &terms(&["run"]), 150);
        assert_eq!(h.matched().collect::<Vec<_>>(), ["running"]);
        assert_eq!(h.to_html(), "Runners keep <em>running</em>");
    }

    #[test]
    fn picks_the_densest_window() {
        let mut a = Analyzer::english().build();
        let text = format!(
            "{} the cat sat with a cat {}",
            "filler words ".repeat(20),
            "more filler ".repeat(20)
        );
        let h = snippet("t", &mut a, &text, &terms(&["cat"]), 40);
        assert_eq!(h.marks.len(), 2);
        assert!(h.fragment.chars().count() <= 40);
        assert!(h.fragment.contains("cat sat with a cat"));
    }

    #[test]
    fn multibyte_text_is_cut_on_char_boundaries() {
        let mut a = Analyzer::english().build();
        let text = "é".repeat(100) + " café " + &"ü".repeat(100);
        let h = snippet("t", &mut a, &text, &terms(&["cafe"]), 30);
        assert_eq!(h.matched().collect::<Vec<_>>(), ["café"]);
    }
}
