//! Alert text in Microsoft Teams Adaptive Cards.
//!
//! A `TextBlock` and a `FactSet` value take a small Markdown subset: bold, italic, lists and links
//! (`[label](url)`). Teams clients disagree about backslash escapes (some show the backslashes),
//! so a link is broken instead: a word joiner between `]` and `(` leaves `[label](url)` reading
//! the same but no longer a link. Emphasis and lists only change how words look. Cards hold no
//! HTML, and a mention needs an `msteams.entities` entry that tocsin never sends, so `<at>` is
//! only text. [`super::defang`] breaks bare URLs, which Teams would make links of.

use super::{WORD_JOINER, defang};

/// Alert text for a `TextBlock` or a fact's value.
pub fn text(text: &str) -> String {
    let defanged = defang(text);
    let mut chars = defanged.chars().peekable();
    let mut joined = String::with_capacity(defanged.len());
    while let Some(c) = chars.next() {
        joined.push(c);
        if c == ']' && chars.peek() == Some(&'(') {
            joined.push(WORD_JOINER);
        }
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_links_and_bare_urls_are_broken() {
        assert_eq!(
            text("[Runbook](https://evil.example) [a] (b) @ops").replace(WORD_JOINER, "{wj}"),
            "[Runbook]{wj}(https:{wj}//evil.example) [a] (b) @{wj}ops"
        );
    }
}
