//! `flowex admin …`: operator commands.
//!
//! Most are clients of the admin API of a running FlowEx ([`remote`]:
//! assets, markets, fee tiers, freezes, cancel-all, deposits, withdrawals,
//! the audit log), logged in as an admin ([`client`]), so they work against
//! `flowex up` and against a distributed gateway alike, and every one is
//! checked and audited by the server. The rest work on the configured
//! database directly:
//!
//! `flowex admin create-user --email E --password P [--admin]` creates an
//! account directly in the database: how the first administrator of a
//! production exchange comes to exist (registration only makes users, and
//! only an admin can make another admin). The password must pass the same
//! policy as registration and is stored as an Argon2id hash; `--password -`
//! reads it from standard input instead of the command line (where other
//! local users could see it in the process list).

mod client;
mod remote;

use anyhow::{bail, Context, Result};
use flowex_config::Config;
use flowex_store::{NewUser, Role, StoreError};

/// `flowex admin` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum AdminCmd {
    /// Create a user (or the first admin) in the configured database.
    CreateUser(CreateUserArgs),
    /// Check that the ledger, the SQL balances and the engine agree (exit 1 with a report if not).
    Reconcile,
    #[command(flatten)]
    Remote(Box<remote::RemoteCmd>),
}

/// Options of `flowex admin create-user`.
#[derive(clap::Args, Debug)]
pub struct CreateUserArgs {
    /// E-mail address (the login name).
    #[arg(long)]
    pub email: String,
    /// Password (10–128 characters, not the e-mail, not a common one);
    /// `-` reads one line from standard input.
    #[arg(long)]
    pub password: String,
    /// Give the user the admin role.
    #[arg(long)]
    pub admin: bool,
}

pub async fn run(cfg: &Config, cmd: AdminCmd) -> Result<()> {
    match cmd {
        AdminCmd::CreateUser(args) => create_user(cfg, args).await,
        AdminCmd::Reconcile => crate::reconcile::run(cfg).await,
        AdminCmd::Remote(cmd) => remote::run(cfg, *cmd).await,
    }
}

async fn create_user(cfg: &Config, args: CreateUserArgs) -> Result<()> {
    let password = if args.password == "-" {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        args.password
    };
    let email = args.email.trim();
    if !flowex_auth_service::account::valid_email(email) {
        bail!("{email:?} is not a valid e-mail address");
    }
    if let Err(e) = flowex_auth::check_policy(&password, email) {
        bail!("the password is refused: {e}");
    }
    let hash = tokio::task::spawn_blocking(move || flowex_auth::hash_password(&password))
        .await?
        .context("hashing the password")?;
    let url = crate::ops::database_url(cfg)?;
    if cfg.mode == flowex_config::Mode::Embedded {
        crate::ops::ensure_sqlite_dir(cfg)?;
    }
    let store = flowex_store::Store::connect(&url)
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("applying migrations")?;
    let role = if args.admin { Role::Admin } else { Role::User };
    let created = store
        .create_user(&NewUser {
            email,
            password_hash: &hash,
            role,
            now: crate::ops::now_ms(),
        })
        .await;
    store.close().await;
    match created {
        Ok(user) => {
            println!(
                "created user {} <{}> with role {}",
                user.id,
                user.email,
                role.as_str()
            );
            Ok(())
        }
        Err(StoreError::EmailTaken) => bail!("a user with the e-mail {email} already exists"),
        Err(e) => Err(e).context("creating the user"),
    }
}
