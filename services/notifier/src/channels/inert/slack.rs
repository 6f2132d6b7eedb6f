//! Alert text in Slack messages.
//!
//! Slack reads `&`, `<` and `>` as its control characters: `<!channel>`, `<!here>`, `<@U…>`,
//! `<#C…>`, `<!subteam^S…>` and `<https://…|label>` are all written with them. In `mrkdwn` text
//! (section text and fields, context, a thread reply, the message's top-level `text`) they are
//! escaped as Slack asks, `&amp;`, `&lt;` and `&gt;`, and Slack shows the characters. The mrkdwn
//! text objects are also sent with `verbatim: true`, so Slack does not go looking for bare URLs,
//! channel names and mentions of its own accord. `plain_text` (the header) is never parsed for
//! links or mentions; a word joiner after each `<` keeps it that way should Slack ever read it as
//! markup. Both go through [`super::defang`] first.

use super::{WORD_JOINER, defang};

/// Alert text for a `mrkdwn` text object or a message's `text`.
pub fn mrkdwn(text: &str) -> String {
    let defanged = defang(text);
    let mut escaped = String::with_capacity(defanged.len());
    for c in defanged.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Alert text for a `plain_text` text object.
pub fn plain_text(text: &str) -> String {
    let defanged = defang(text);
    let mut joined = String::with_capacity(defanged.len());
    for c in defanged.chars() {
        joined.push(c);
        if c == '<' {
            joined.push(WORD_JOINER);
        }
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str =
        "<!channel> <!here> <@U0ADMIN> <#C0SECRET> <!subteam^S0SEC> <https://evil.example|Runbook> & @here";

    #[test]
    fn slack_markup_in_mrkdwn_is_escaped() {
        assert_eq!(
            mrkdwn(HOSTILE).replace(WORD_JOINER, "{wj}"),
            "&lt;!channel&gt; &lt;!here&gt; &lt;@{wj}U0ADMIN&gt; &lt;#C0SECRET&gt; &lt;!subteam^S0SEC&gt; \
             &lt;https:{wj}//evil.example|Runbook&gt; &amp; @{wj}here"
        );
    }

    #[test]
    fn slack_markup_in_plain_text_is_joined_apart() {
        let plain = plain_text(HOSTILE);
        assert!(!plain.contains("<!") && !plain.contains("<@") && !plain.contains("<#") && !plain.contains("<h"));
        assert_eq!(plain.replace(WORD_JOINER, ""), HOSTILE, "reads the same");
    }
}
