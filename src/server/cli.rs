//! `muster user …`: administering users from the command line, with the
//! password read from standard input so it never appears in the process list.

use std::io::BufRead as _;

use clap::Subcommand;
use muster_domain::users::{Role, check_password};
use muster_store::NewUser;

use super::DatabaseArgs;
use super::auth::passwords::PasswordHasher;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A tenant (name or id) the user is scoped to; repeat for several.
        /// Without any, the user sees every cluster.
        #[arg(long = "tenant")]
        tenants: Vec<String>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// Set a user's password, read from standard input.
    ResetPassword {
        username: String,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// The first line of standard input, without its line ending.
fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    check_password(&password).map_err(|e| e.to_string())?;
    Ok(password)
}

/// Runs a user command and returns what to print on success.
///
/// # Errors
/// A one-line message saying what went wrong.
pub async fn run(cmd: UserCommand) -> Result<String, String> {
    let hasher = PasswordHasher::new();
    match cmd {
        UserCommand::Add {
            username,
            role,
            tenants,
            db,
        } => {
            let name =
                muster_domain::users::normalize_username(&username).map_err(|e| e.to_string())?;
            let password = read_password()?;
            let store = db.connect().await?;
            let known = store.list_tenants().await.map_err(|e| e.to_string())?;
            let mut ids = Vec::new();
            for t in &tenants {
                let found = known
                    .iter()
                    .find(|k| &k.id == t || k.name.eq_ignore_ascii_case(t));
                ids.push(
                    found
                        .ok_or_else(|| format!("no tenant is named or numbered {t:?}"))?
                        .id
                        .clone(),
                );
            }
            let hash = hasher.hash(&password).await.map_err(|e| e.to_string())?;
            let new = NewUser {
                username: name,
                password_hash: hash,
                role,
                tenants: ids,
            };
            let created = store
                .create_user(&new, "system:cli")
                .await
                .map_err(|e| match e {
                    muster_store::StoreError::Conflict(_) => {
                        format!("user {username:?} already exists")
                    }
                    other => other.to_string(),
                });
            store.close().await;
            let user = created?;
            Ok(format!(
                "created {} ({}, {})",
                user.username,
                user.role,
                if user.is_unscoped() {
                    "every cluster".to_owned()
                } else {
                    format!("{} tenant(s)", user.tenants.len())
                }
            ))
        }
        UserCommand::ResetPassword { username, db } => {
            let password = read_password()?;
            let store = db.connect().await?;
            let hash = hasher.hash(&password).await.map_err(|e| e.to_string())?;
            let result = store
                .set_password(&username, &hash, "system:cli")
                .await
                .map_err(|e| match e {
                    muster_store::StoreError::NotFound(_) => {
                        format!("no user is named {username:?}")
                    }
                    other => other.to_string(),
                });
            store.close().await;
            result.map(|u| format!("password of {} changed", u.username))
        }
    }
}
