//! An image reference's tag: pinned by digest, by a version tag, or floating (`latest`, none).

use guest_support::Finding;

use super::rules::finding;

/// The finding for a floating image reference at `line`, if it floats. References built from
/// variables (`$BASE`, `${IMAGE}`) are not judged.
pub fn check(file: &str, line: usize, image: &str) -> Option<Finding> {
    if image.contains('$') || image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, "latest")) => Some(finding(
            file,
            line,
            "image-latest",
            format!("`{image}` uses the `latest` tag"),
            "name a version tag, or pin the digest (`image:1.2.3@sha256:...`)",
        )),
        Some(_) => None,
        None => Some(finding(
            file,
            line,
            "image-untagged",
            format!("`{image}` has no tag, so it is `latest`"),
            "name a version tag, or pin the digest (`image:1.2.3@sha256:...`)",
        )),
    }
}
