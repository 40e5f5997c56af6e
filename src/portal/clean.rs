//! Cleaning the texts an app sends for the host's eyes (notifications):
//! markup, links and control characters out, lengths bounded.

/// The longest title and body passed on, in characters.
pub const TITLE_MAX: usize = 128;
pub const BODY_MAX: usize = 512;
/// The longest app name kept.
pub const APP_MAX: usize = 64;

/// `text` without markup (`<b>`, `<a href=…>`: tags go, entities are
/// decoded), links (replaced by `[link]`) and control characters
/// (newlines kept in a body, as spaces elsewhere), spaces collapsed.
pub fn clean(text: &str, newlines: bool) -> String {
    let mut plain = String::with_capacity(text.len().min(4 * BODY_MAX));
    let mut in_tag = false;
    for c in text.chars().take(16 * BODY_MAX) {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            '\n' if newlines => plain.push('\n'),
            c if c.is_control() => plain.push(' '),
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
    let mut lines = Vec::new();
    for line in plain.split('\n') {
        let words: Vec<&str> = line
            .split_whitespace()
            .map(|w| if is_link(w) { "[link]" } else { w })
            .collect();
        lines.push(words.join(" "));
    }
    lines.join("\n").trim().to_owned()
}

/// Whether `word` is, or holds, a link: a scheme with `://`, `www.`, or
/// `mailto:`.
fn is_link(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    lower.contains("://") || lower.contains("www.") || lower.contains("mailto:")
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
