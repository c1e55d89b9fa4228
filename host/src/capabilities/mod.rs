//! The host functions guests import: `tandem:agent/*`, one module per interface, plus the WASI
//! interfaces that can be granted (`wasi`), the bounds on granted files (`files`) and guest stdio
//! into the log (`stdio`).
//!
//! Each module implements its generated `Host` trait on [`StoreData`](crate::sandbox::StoreData) and
//! bounds what a guest can make the host do (log volume, delegation targets, state quotas).

mod delegation;
mod events;
pub mod files;
mod log;
mod state;
mod stdio;
pub mod wasi;

pub use stdio::LogStream;

impl crate::bindings::types::Host for crate::sandbox::StoreData {}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut.
pub(crate) fn truncate(mut text: String, max: usize) -> String {
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
