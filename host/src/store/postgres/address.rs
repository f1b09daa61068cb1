//! A database's address without its password: what may be written down or
//! shown (a data directory's mark, an error message) of the URL a node was
//! given. Read by tokio-postgres's own parser, so every form it takes
//! (`postgres://…` URLs, `key=value` strings) is understood alike.

use crate::store::StoreError;
use std::str::FromStr;
use tokio_postgres::config::{Host, SslMode};

/// `url` as a `key=value` connection string naming only its hosts, ports,
/// user, database and (when required) TLS: never its password. Given back
/// with `password=…` added (when the database needs one), it reaches the
/// same database.
pub fn address_without_password(url: &str) -> Result<String, StoreError> {
    let config = tokio_postgres::Config::from_str(url)
        .map_err(|e| StoreError::Failed { operation: "reading the database URL", message: e.to_string() })?;
    let mut parts = Vec::new();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    if !hosts.is_empty() {
        parts.push(("host", hosts.join(",")));
    }
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    if !ports.is_empty() {
        parts.push(("port", ports.join(",")));
    }
    if let Some(user) = config.get_user() {
        parts.push(("user", user.to_string()));
    }
    if let Some(dbname) = config.get_dbname() {
        parts.push(("dbname", dbname.to_string()));
    }
    if config.get_ssl_mode() == SslMode::Require {
        parts.push(("sslmode", "require".to_string()));
    }
    Ok(parts.iter().map(|(key, value)| format!("{key}={}", quoted(value))).collect::<Vec<_>>().join(" "))
}

/// A value as a connection string takes it: quoted when it is empty or
/// holds spaces, quotes or backslashes.
fn quoted(value: &str) -> String {
    if !value.is_empty() && !value.chars().any(|c| c.is_whitespace() || c == '\'' || c == '\\') {
        return value.to_string();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::address_without_password;

    #[test]
    fn the_password_is_never_kept_in_any_form() {
        let cases = [
            ("postgres://plinth:s3cret@10.0.0.5:5433/db", "host=10.0.0.5 port=5433 user=plinth dbname=db"),
            ("postgres://plinth:ab/cd@host/db", "host=host port=5432 user=plinth dbname=db"),
            (
                "postgres://u@h/db?password=s3cret&sslmode=require",
                "host=h port=5432 user=u dbname=db sslmode=require",
            ),
            ("host=db password = s3cret dbname=x", "host=db dbname=x"),
            ("host=db user='a b' password='it\\'s s3cret' dbname=x", "host=db user='a b' dbname=x"),
        ];
        for (url, address) in cases {
            let written = address_without_password(url).expect("parses");
            assert_eq!(written, address, "{url}");
            assert!(!written.contains("s3cret") && !written.contains("ab/cd"), "{written}");
            // What is written down reaches the same database.
            let again = address_without_password(&written).expect("parses again");
            assert_eq!(again, written);
        }
        assert!(address_without_password("postgres://[bad").is_err());
    }
}
