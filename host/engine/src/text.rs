//! Untrusted text cut to a bound: what guests and clients send is kept whole only up to a limit.

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut.
pub fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("…[truncated]");
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncate_keeps_short_text_and_cuts_on_char_boundaries() {
        assert_eq!(super::truncate("short".into(), 10), "short");
        assert_eq!(super::truncate("ääää".into(), 3), "ä…[truncated]");
    }
}
