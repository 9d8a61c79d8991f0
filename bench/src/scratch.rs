//! A fresh database per benchmark run, removed afterwards: a directory with a SQLite
//! file, or a PostgreSQL database created over the admin connection.

use std::path::PathBuf;

use anyhow::{bail, Context};
use sqlx::Connection;

/// A fresh database for one run: a directory (and SQLite file) or a PostgreSQL
/// database created on the admin connection, removed afterwards.
pub struct Scratch {
    pub dir: PathBuf,
    pub url: String,
    postgres: Option<(sqlx::PgConnection, String)>,
}

impl Scratch {
    /// `None` for PostgreSQL without an admin URL.
    pub async fn new(backend: &str, postgres_admin_url: Option<&str>) -> anyhow::Result<Option<Self>> {
        match backend {
            "sqlite" => {
                let dir = scratch_dir("sqlite")?;
                let url = format!("sqlite://{}", dir.join("sluice.db").display());
                Ok(Some(Self { dir, url, postgres: None }))
            }
            "postgres" => {
                let Some(admin) = postgres_admin_url else { return Ok(None) };
                let dir = scratch_dir("postgres")?;
                let name = format!("sluice_bench_{}", ulid::Ulid::new().to_string().to_lowercase());
                let mut conn = sqlx::PgConnection::connect(admin).await?;
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
                let url = database_url_for(admin, &name)?;
                Ok(Some(Self { dir, url, postgres: Some((conn, name)) }))
            }
            other => bail!("unknown backend {other}; use sqlite or postgres"),
        }
    }

    pub async fn remove(self) {
        if let Some((mut conn, name)) = self.postgres {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn scratch_dir(backend: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("sluice-bench-{backend}-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The admin URL with its database name replaced.
fn database_url_for(admin: &str, name: &str) -> anyhow::Result<String> {
    let (head, query) = match admin.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (admin, None),
    };
    let scheme_end = head.find("://").context("postgres URL without scheme")? + 3;
    let path_start = head[scheme_end..].find('/').map(|i| scheme_end + i).unwrap_or(head.len());
    let mut url = format!("{}/{name}", &head[..path_start]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_swaps_only_the_name() -> anyhow::Result<()> {
        assert_eq!(database_url_for("postgres://u@127.0.0.1:5432/postgres", "b")?, "postgres://u@127.0.0.1:5432/b");
        assert_eq!(
            database_url_for("postgres://u@h:1/postgres?sslmode=disable", "b")?,
            "postgres://u@h:1/b?sslmode=disable"
        );
        assert_eq!(database_url_for("postgres://u@h:1", "b")?, "postgres://u@h:1/b");
        Ok(())
    }
}
