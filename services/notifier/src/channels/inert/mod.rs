//! Alert text made inert for each syntax a channel renders. Titles, label values, alert names,
//! actors and runbook annotations come from whoever can send an alert or call the API; on a channel
//! they must read as the words they are, never as a mention that pings people or a link that
//! points somewhere. Only the links tocsin itself builds ([`super::Summary::links`]) are links.
//!
//! Two layers:
//!
//! - [`defang`] breaks what renderers detect in plain words, whatever the syntax: a mention
//!   (`@here`, `@acme/security`), a bare URL (`https://…`) and a `www.` address. It puts a word
//!   joiner (U+2060) after the `@`, between `:` and `//`, or before the `.` of `www.`: it shows as
//!   nothing, so the text reads the same, and no parser sees a mention or a link any more.
//! - One module per output syntax then escapes that syntax's own markup: [`slack`] (mrkdwn and
//!   plain text), [`markdown`] (GitHub), [`adaptive_card`] (Teams) and [`html`] (e-mail). A
//!   plain-text e-mail has no markup: [`defang`] is all it needs.

pub mod adaptive_card;
pub mod html;
pub mod markdown;
pub mod slack;

/// Shows as nothing and joins the characters around it: what breaks a mention or a link apart.
pub const WORD_JOINER: char = '\u{2060}';

/// `text` with its mentions, bare URLs and `www.` addresses broken by a [`WORD_JOINER`].
///
/// A mention is an `@` that starts a word (not the `@` of `ana@example.com`, which no service
/// pings) followed by a letter, digit or `_`.
pub fn defang(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut defanged = String::with_capacity(text.len() + 8);
    for (index, &c) in chars.iter().enumerate() {
        let previous = index.checked_sub(1).map(|before| chars[before]);
        let next = chars.get(index + 1).copied();
        defanged.push(c);
        let starts_word = previous.is_none_or(|previous| !continues_address(previous));
        let breaks_after = match c {
            '@' => starts_word && next.is_some_and(|next| next.is_alphanumeric() || next == '_'),
            ':' => chars.get(index + 1..index + 3) == Some(&['/', '/']),
            // `www` + `.`: the joiner goes after the third `w` of a word that starts with `www.`.
            'w' | 'W' => {
                index >= 2
                    && chars[index - 2..=index].iter().all(|w| w.eq_ignore_ascii_case(&'w'))
                    && next == Some('.')
                    && index.checked_sub(3).is_none_or(|before| !continues_address(chars[before]))
            }
            _ => false,
        };
        if breaks_after {
            defanged.push(WORD_JOINER);
        }
    }
    defanged
}

/// Whether a character can come right before the `@` of an e-mail address or inside a host
/// name, so that what follows is not the start of a mention or an address.
fn continues_address(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '%')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The joiners made visible.
    fn shown(text: &str) -> String {
        text.replace(WORD_JOINER, "{wj}")
    }

    #[test]
    fn mentions_urls_and_www_addresses_are_broken() {
        assert_eq!(
            shown(&defang("@here @acme/security (@ana) <@U0ADMIN>")),
            "@{wj}here @{wj}acme/security (@{wj}ana) <@{wj}U0ADMIN>"
        );
        assert_eq!(
            shown(&defang("see https://evil.example/x or ftp://a")),
            "see https:{wj}//evil.example/x or ftp:{wj}//a"
        );
        assert_eq!(shown(&defang("www.evil.example WWW.x.io")), "www{wj}.evil.example WWW{wj}.x.io");
    }

    #[test]
    fn words_that_only_look_alike_are_left_alone() {
        for text in [
            "ana@example.com",
            "first.last+tag@example.com",
            "an @ sign",
            "ends with @",
            "slack:ana",
            "host:9100",
            "awww.x",
            "www-1.example",
            "db-www.example",
            "no www here",
            "",
        ] {
            assert_eq!(defang(text), text);
        }
    }
}
