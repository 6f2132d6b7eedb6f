//! Alert text in GitHub issues: Markdown (GitHub Flavored) in bodies and comments, plain text in
//! titles.
//!
//! In a body, every character that starts inline markup is escaped with a backslash, as
//! CommonMark allows for any ASCII punctuation: `[x](url)` and `![x](url)` stay text, `<…>` is
//! neither an autolink nor HTML, `&#64;` is not an entity, `|` cannot open a table cell, and
//! emphasis, code and math stay text. Line breaks become spaces, since tocsin's text always sits
//! inside one line (a table cell, a bold step). GitHub finds mentions (`@acme/security`) and issue
//! references (`#12`) in the rendered words whatever the escaping, so [`super::defang`] breaks
//! mentions and bare URLs, and a word joiner goes after a `#` that comes before a digit.
//! Titles are not Markdown, but GitHub links issue references in them too.

use super::{WORD_JOINER, defang};

/// ASCII punctuation that opens or closes inline Markdown on GitHub.
const MARKUP: &[char] = &['\\', '`', '*', '_', '[', ']', '<', '>', '!', '|', '~', '&', '$'];

/// Alert text inside one line of an issue body or comment.
pub fn inline(text: &str) -> String {
    let text = title(text);
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\r' | '\n' => escaped.push(' '),
            c if MARKUP.contains(&c) => {
                escaped.push('\\');
                escaped.push(c);
            }
            c => escaped.push(c),
        }
    }
    escaped
}

/// Alert text in an issue title.
pub fn title(text: &str) -> String {
    let defanged = defang(text);
    let mut chars = defanged.chars().peekable();
    let mut joined = String::with_capacity(defanged.len());
    while let Some(c) = chars.next() {
        joined.push(c);
        if c == '#' && chars.peek().is_some_and(char::is_ascii_digit) {
            joined.push(WORD_JOINER);
        }
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str) -> String {
        text.replace(WORD_JOINER, "{wj}")
    }

    #[test]
    fn links_images_html_and_entities_stay_text() {
        assert_eq!(
            shown(&inline("[x](https://evil.example) ![p](https://evil.example/p.png) <img src=x> &#64;ana")),
            r"\[x\](https:{wj}//evil.example) \!\[p\](https:{wj}//evil.example/p.png) \<img src=x\> \&#{wj}64;ana"
        );
    }

    #[test]
    fn mentions_references_and_table_breaks_are_neutral() {
        assert_eq!(shown(&inline("@acme/security fixed #12 | a\nb")), r"@{wj}acme/security fixed #{wj}12 \| a b");
        assert_eq!(
            shown(&inline("*bold* _em_ `code` ~del~ $x$ C:\\tmp")),
            r"\*bold\* \_em\_ \`code\` \~del\~ \$x\$ C:\\tmp"
        );
    }

    #[test]
    fn titles_keep_their_characters() {
        assert_eq!(shown(&title("[CRITICAL] <b>disk</b> @ops #7")), "[CRITICAL] <b>disk</b> @{wj}ops #{wj}7");
    }
}
