//! Alert text in the HTML part of an e-mail: every character HTML gives a meaning to is an
//! entity, so no tag, attribute or link can be written, and [`super::defang`] keeps mail clients
//! from making links of bare URLs. Attribute values (the `href` of the links tocsin builds) go
//! through [`attribute`], which escapes the same way without defanging.

use super::defang;

/// Alert text as HTML element content.
pub fn text(text: &str) -> String {
    attribute(&defang(text))
}

/// A value tocsin built (a URL it checked) inside a double-quoted attribute.
pub fn attribute(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::inert::WORD_JOINER;

    #[test]
    fn markup_is_entities_and_urls_are_broken() {
        assert_eq!(
            text("<a href=\"https://evil.example\">'x'</a> & @ops").replace(WORD_JOINER, "{wj}"),
            "&lt;a href=&quot;https:{wj}//evil.example&quot;&gt;&#39;x&#39;&lt;/a&gt; &amp; @{wj}ops"
        );
        assert_eq!(attribute("https://a.example/?q=1&r=\"2\""), "https://a.example/?q=1&amp;r=&quot;2&quot;");
    }
}
