//! Cleaning the texts an app sends for the host's eyes (notifications):
//! markup and links out, invisible and control characters out, lengths
//! bounded; and escaping them for a notification server, which reads a
//! body as markup.
//!
//! [`clean`] reads the app's text once: tags go, then entities are
//! decoded, and the result is plain text (it may hold `<` again, from
//! `&lt;`: it is never cleaned a second time, which would decode a second
//! level). [`neutral`] is what the host side applies to plain text it is
//! given, any number of times with the same result: links and invisible
//! characters out. [`escape`] makes plain text markup that shows as it is.

/// The longest title and body passed on, in characters.
pub const TITLE_MAX: usize = 128;
pub const BODY_MAX: usize = 512;
/// The longest app name kept.
pub const APP_MAX: usize = 64;

/// The app's `text` as plain text: markup tags removed, entities decoded,
/// then [`neutral`]. Newlines are kept with `newlines`, else spaces.
pub fn clean(text: &str, newlines: bool) -> String {
    let mut plain = String::with_capacity(text.len().min(4 * BODY_MAX));
    let mut in_tag = false;
    for c in text.chars().take(16 * BODY_MAX) {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            c => plain.push(c),
        }
    }
    let plain = plain
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    neutral(&plain, newlines)
}

/// `text` with every word that is or holds a link replaced by `[link]`,
/// control and invisible formatting characters (bidi overrides,
/// zero-width ones) out, spaces collapsed; newlines kept with `newlines`.
/// Applying it again changes nothing.
pub fn neutral(text: &str, newlines: bool) -> String {
    let visible: String = text
        .chars()
        .filter(|c| !is_format(*c))
        .map(|c| match c {
            '\n' if newlines => '\n',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    let mut lines = Vec::new();
    for line in visible.split('\n') {
        let words: Vec<&str> = line
            .split_whitespace()
            .map(|w| if is_link(w) { "[link]" } else { w })
            .collect();
        lines.push(words.join(" "));
    }
    lines.join("\n").trim().to_owned()
}

/// `text` as markup that shows it as it is: `&`, `<` and `>` escaped.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Invisible formatting characters (Unicode category Cf, and the line and
/// paragraph separators), which can reorder or hide what is shown.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0001}'..='\u{e007f}'
    )
}

/// Whether `word` is, or holds, a link: a scheme (`file:`, `https:`,
/// `x-foo:…`), `www.`, or a host name with a path or a top-level domain
/// (`evil.example/x`, `example.org`).
fn is_link(word: &str) -> bool {
    // `href="file:/x"`, `(https://…)`: each piece between quotes,
    // brackets and the like.
    word.split(|c: char| {
        matches!(
            c,
            '"' | '\'' | '<' | '>' | '=' | '(' | ')' | '[' | ']' | '{' | '}' | ',' | ';' | '|'
        )
    })
    .any(piece_is_link)
}

fn piece_is_link(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    if lower.contains("www.") {
        return true;
    }
    // A scheme: letters, then letters, digits, + - ., then a colon and
    // something after it.
    if let Some((scheme, rest)) = lower.split_once(':') {
        let scheme = scheme.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
        let is_scheme = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if is_scheme
            && !rest
                .trim_end_matches(|c: char| c.is_ascii_punctuation())
                .is_empty()
        {
            return true;
        }
    }
    // A host name: labels joined by dots, the last of 2 or more letters,
    // maybe a path after it.
    let trimmed =
        lower.trim_matches(|c: char| matches!(c, '(' | ')' | '"' | '\'' | ',' | ';' | '!' | '?'));
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    let host = trimmed.split('/').next().unwrap_or("");
    let labels: Vec<&str> = host.split('.').collect();
    labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'))
        && labels
            .last()
            .is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic))
}

/// `text` cut to `max` characters, with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_read_once_and_never_comes_back() {
        assert_eq!(
            clean("<b>New</b> mail &amp; <i>more</i>", false),
            "New mail & more"
        );
        // Entities decode to text, once: the host gets it escaped.
        let once = clean("&lt;b&gt;bold&lt;/b&gt;", false);
        assert_eq!(once, "<b>bold</b>");
        assert_eq!(escape(&neutral(&once, false)), "&lt;b&gt;bold&lt;/b&gt;");
        let twice = clean(
            "&amp;lt;a href=\"file:/home/u/x.desktop\"&amp;gt;Update&amp;lt;/a&amp;gt;",
            false,
        );
        assert_eq!(neutral(&twice, false), twice, "neutral is idempotent");
        assert!(!escape(&twice).contains('<'), "{twice}");
        assert!(twice.contains("[link]"), "{twice}");
    }

    #[test]
    fn links_of_every_kind_go() {
        for link in [
            "https://evil.example/x",
            "file:/home/u/x.desktop",
            "x-scheme:open",
            "mailto:a@b.org",
            "evil.example/path",
            "example.org",
            "(www.example.org)",
            "Example.ORG.",
        ] {
            assert_eq!(clean(link, false), "[link]", "{link}");
        }
        for word in ["Note:", "12:30", "e.g.", "a.b", "résumé", "3.14"] {
            assert_eq!(clean(word, false), word, "{word}");
        }
        assert_eq!(
            clean(
                "see <a href=\"https://evil.example/x\">here</a>: https://evil.example/y",
                true
            ),
            "see here: [link]"
        );
    }

    #[test]
    fn invisible_and_control_characters_go() {
        assert_eq!(clean("a\u{1b}[31mred\nnext", false), "a [31mred next");
        assert_eq!(clean("line one\nline two", true), "line one\nline two");
        assert_eq!(clean("\u{202e}evil\u{200b}name\u{2066}", false), "evilname");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
