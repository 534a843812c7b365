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
    let written = std::fs::write(&tmp, text).and_then(|()| {
        // Private before it takes the real name, never after.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        }
        std::fs::rename(&tmp, path)
    });
    written.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The report on an operation issued in an older term than the newest the
/// agent has seen, which agents refuse (the fencing token at work); `None`
/// when the operation may run.
#[must_use]
pub fn refuse_stale(
    newest_term: u64,
    op: &muster_domain::protocol::PendingOperation,
) -> Option<muster_domain::operations::OperationReport> {
    (!muster_domain::protocol::accepts_operation(newest_term, op)).then(|| {
        muster_domain::operations::OperationReport {
            ok: false,
            message: format!(
                "refused: issued in term {}, but the cluster is in term {newest_term}",
                op.term
            ),
            output: serde_json::json!({"term": op.term, "current_term": newest_term}),
        }
    })
}

/// Rounds to two decimals, as figures are reported.
#[must_use]
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
