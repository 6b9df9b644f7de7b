//! Locating the untouched third-party fixtures in `../shared/fixtures`.

use std::path::PathBuf;

/// The fixtures directory: `$PREVIEW_BOT_FIXTURES`, else `shared/fixtures` beside the workspace.
pub fn dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PREVIEW_BOT_FIXTURES") {
        return PathBuf::from(dir);
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    workspace.join("../shared/fixtures")
}

/// Reads one fixture file as text; panics with the path when it is missing (test set-up only).
pub fn read(relative: &str) -> String {
    let path = dir().join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {} unreadable: {e}", path.display()))
}

/// Reads one JSON fixture.
pub fn json(relative: &str) -> serde_json::Value {
    serde_json::from_str(&read(relative))
        .unwrap_or_else(|e| panic!("fixture {relative} is not JSON: {e}"))
}
