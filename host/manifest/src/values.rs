//! Values as users write them: durations (`"250ms"`), sizes (`"64MiB"` or a number of bytes), and
//! the range every value must fall in, with errors that name the text and the range.

use std::time::Duration;

use crate::schema::Size;

impl Size {
    /// The size in bytes, or why the text is not a size.
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            Size::Bytes(bytes) => Ok(*bytes),
            Size::Text(text) => text
                .parse::<bytesize::ByteSize>()
                .map(|size| size.as_u64())
                .map_err(|e| format!("`{text}` is not a size like \"64MiB\" or 1048576: {e}")),
        }
    }
}

/// A byte count as people read it: `64.0 MiB`.
pub fn human_size(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
}

/// Parses a duration a user wrote (`"250ms"`, `"5s"`, `"2m"`) and checks it lies in `min..=max`;
/// the error names the text and the range. Every duration from users passes here, so none can
/// overflow a deadline.
pub fn parse_duration(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration like \"500ms\", \"5s\" or \"2m\": {e}"))?;
    check_range(duration, min, max, |d| format!("{d:?}"))?;
    Ok(duration)
}

/// Checks `min <= value <= max`; a value that compares with neither (a NaN) is out of range too.
pub fn check_range<T: PartialOrd + Copy>(
    value: T,
    min: T,
    max: T,
    show: impl Fn(T) -> String,
) -> Result<(), String> {
    if !(min..=max).contains(&value) {
        return Err(format!(
            "{} is out of range ({} to {})",
            show(value),
            show(min),
            show(max)
        ));
    }
    Ok(())
}
