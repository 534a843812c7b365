//! The agent's library: the HTTP exchange with the server that the real agent
//! and the simulator share, and the simulator itself (which `muster serve
//! --demo` runs in-process).

pub mod http;
pub mod sim;

/// Writes `text` to `path` whole (through a temporary file and a rename) and
/// readable by its owner only: node tokens are secrets.
///
/// # Errors
/// A message naming the file.
pub fn write_private(path: &std::path::Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}
