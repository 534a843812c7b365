//! Signing in: password hashing and the first administrator.

pub mod caller;
pub mod passwords;
pub mod sessions;

use muster_store::{NewUser, Store};

use passwords::PasswordHasher;

/// Length of a generated first password.
const GENERATED_PASSWORD_CHARS: usize = 24;

/// On an empty database, creates `admin` with `MUSTER_ADMIN_PASSWORD` or a
/// random password, which is printed once to the log.
///
/// # Errors
/// A one-line reason when the password is unacceptable or the store refuses.
pub async fn ensure_first_admin(
    store: &dyn Store,
    hasher: &PasswordHasher,
    configured: Option<&str>,
) -> Result<(), String> {
    if store.count_users().await.map_err(|e| e.to_string())? > 0 {
        return Ok(());
    }
    let (password, generated) = match configured {
        Some(p) => {
            muster_domain::users::check_password(p)
                .map_err(|e| format!("MUSTER_ADMIN_PASSWORD: {e}"))?;
            (p.to_owned(), false)
        }
        None => (passwords::generate(GENERATED_PASSWORD_CHARS), true),
    };
    let hash = hasher.hash(&password).await.map_err(|e| e.to_string())?;
    let new = NewUser {
        username: "admin".into(),
        password_hash: hash,
        role: muster_domain::users::Role::Admin,
        tenants: vec![],
    };
    store
        .create_user(&new, "system")
        .await
        .map_err(|e| e.to_string())?;
    if generated {
        tracing::warn!(
            "created the first user: admin / {password} (shown once; set MUSTER_ADMIN_PASSWORD to choose it)"
        );
    } else {
        tracing::info!("created the first user admin with the password from MUSTER_ADMIN_PASSWORD");
    }
    Ok(())
}
