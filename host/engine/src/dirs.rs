//! Where Tandem keeps its files when not told otherwise: the compiled-code cache and the data
//! directory (the audit log, the agents' state), after the XDG base directory convention.

use std::path::PathBuf;

/// `$TANDEM_CACHE_DIR`, else `$XDG_CACHE_HOME/tandem`, else `~/.cache/tandem`.
pub fn cache_dir() -> Option<PathBuf> {
    user_dir("TANDEM_CACHE_DIR", "XDG_CACHE_HOME", ".cache")
}

/// `$TANDEM_DATA_DIR`, else `$XDG_DATA_HOME/tandem`, else `~/.local/share/tandem`.
pub fn data_dir() -> Option<PathBuf> {
    user_dir("TANDEM_DATA_DIR", "XDG_DATA_HOME", ".local/share")
}

/// `$own`, else `$xdg/tandem`, else `$HOME/<under_home>/tandem`.
fn user_dir(own: &str, xdg: &str, under_home: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(own) {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os(xdg) {
        return Some(PathBuf::from(dir).join("tandem"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(under_home).join("tandem"))
}
