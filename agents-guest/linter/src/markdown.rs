//! Markdown, through pulldown-cmark (CommonMark with tables and footnotes): what markdownlint's
//! MD001 reports (`md-heading-increment`: a heading more than one level below the one before) and
//! links and images to relative paths that do not exist (`md-broken-link`), checked on disk for
//! files read from a granted tree (inline text has no disk to check against).

use guest_support::{Finding, LineIndex, Severity};
use pulldown_cmark::{Event, Options, Parser, Tag};

/// Lints one Markdown file; `on_disk` says whether its path can be resolved on disk.
pub fn lint(file: &str, text: &str, on_disk: bool) -> Vec<Finding> {
    let index = LineIndex::new(text);
    let mut findings = Vec::new();
    let mut previous_level = 0;
    let parser = Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_FOOTNOTES);
    for (event, range) in parser.into_offset_iter() {
        let Event::Start(tag) = event else { continue };
        let (line, column) = index.position(range.start);
        match tag {
            Tag::Heading { level, .. } => {
                let level = level as usize;
                if previous_level > 0 && level > previous_level + 1 {
                    findings.push(Finding::new(file, line, column, "md-heading-increment", Severity::Warning, format!("heading levels should only increment by one level at a time: h{previous_level} then h{level}")));
                }
                previous_level = level;
            }
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } if on_disk => {
                if let Some(target) = relative_target(&dest_url)
                    && !exists(file, &target)
                {
                    findings.push(Finding::new(
                        file,
                        line,
                        column,
                        "md-broken-link",
                        Severity::Warning,
                        format!("link to `{target}`, which does not exist"),
                    ));
                }
            }
            _ => {}
        }
    }
    findings
}

/// The path part of a relative link, decoded; None for URLs, anchors and absolute paths.
fn relative_target(url: &str) -> Option<String> {
    if url.is_empty() || url.starts_with('#') || url.starts_with('/') || url.starts_with("//") {
        return None;
    }
    if let Some(colon) = url.find(':')
        && url[..colon]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None; // a scheme: https:, mailto:, ...
    }
    let path = url.split(['#', '?']).next()?;
    (!path.is_empty()).then(|| percent_decode(path))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(value) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(value);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn exists(file: &str, target: &str) -> bool {
    let dir = file.rsplit_once('/').map_or(".", |(dir, _)| dir);
    std::fs::metadata(format!("{dir}/{target}")).is_ok()
}

/// The rules of this language.
pub const RULES: &[(&str, &str)] = &[
    (
        "md-heading-increment",
        "a heading more than one level below the previous one (markdownlint MD001)",
    ),
    (
        "md-broken-link",
        "a relative link or image to a path that does not exist",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_increments_and_link_targets() {
        let text =
            "# A\n\n### C\n\n## B\n\n[x](https://e.com) [y](#a) [z](missing%20file.md#top)\n";
        let rules: Vec<_> = lint("README.md", text, false)
            .into_iter()
            .map(|f| (f.line, f.rule))
            .collect();
        assert_eq!(rules, [(3, "md-heading-increment".to_string())]);
        assert_eq!(
            relative_target("missing%20file.md#top").as_deref(),
            Some("missing file.md")
        );
        assert_eq!(relative_target("mailto:a@b"), None);
    }
}
