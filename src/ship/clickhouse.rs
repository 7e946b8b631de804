//! A minimal ClickHouse HTTP client that works with 18.16 (Debian's) as with a current server
//! (tested with 26.9): statements in the `query` parameter or the body, rows as `JSONEachRow`,
//! HTTP basic auth, settings as URL parameters. What a server offers beyond 18.16 (query
//! parameters, async inserts) is used once its version says so ([`Version`]).
//!
//! Credentials live only in the request's Authorization header: URLs with userinfo are refused,
//! and errors are described without the URL's query (reqwest's `without_url`), so no message
//! carries the password.

use std::time::Duration;

use super::ShipError;

/// How long one statement may take (an insert of one batch, a CREATE).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Client {
    http: reqwest::Client,
    url: url::Url,
    user: Option<String>,
    password: Option<Secret>,
}

/// A password that never prints.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

/// A server's version, from `SELECT version()` (`18.16.1`, `26.9.2.1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32);

impl Version {
    pub fn parse(text: &str) -> Option<Version> {
        let mut it = text.trim().split('.').map(|p| p.parse::<u32>().ok());
        Some(Version(it.next()??, it.next()??))
    }
    /// `{name:Type}` query parameters bound from `param_name=` (19.11+).
    pub fn query_parameters(self) -> bool {
        self >= Version(19, 11)
    }
    /// `async_insert` with `wait_for_async_insert` (21.11+).
    pub fn async_insert(self) -> bool {
        self >= Version(21, 11)
    }
}

/// `[A-Za-z0-9_]+`: the database and table names a query may name.
pub fn valid_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Client {
    pub fn new(
        url: url::Url,
        user: Option<String>,
        password: Option<Secret>,
        tls: &crate::probe::tls::TlsContext,
    ) -> Result<Client, ShipError> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(
                tls.service_config()
                    .map_err(|e| ShipError(format!("TLS setup: {e}")))?,
            )
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .no_proxy()
            .user_agent(concat!("vantage/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ShipError(format!("cannot build the HTTP client: {}", chain(&e))))?;
        Ok(Client {
            http,
            url,
            user,
            password,
        })
    }

    /// Runs `query` with `body` as its data (rows for an INSERT); the answer's text.
    /// Without data the statement itself is the body (ClickHouse wants a Content-Length).
    pub async fn execute(&self, query: &str, body: Vec<u8>) -> Result<String, ShipError> {
        self.execute_status(query, body, &[])
            .await
            .map_err(|(_, e)| e)
    }

    /// The server's version (`None` when its answer is not one).
    pub async fn version(&self) -> Result<Option<Version>, ShipError> {
        Ok(Version::parse(
            &self.execute("SELECT version()", Vec::new()).await?,
        ))
    }

    /// As `execute`, with `settings` as URL parameters; a failure also carries the HTTP status
    /// when there was an answer.
    pub async fn execute_status(
        &self,
        query: &str,
        body: Vec<u8>,
        settings: &[(&str, &str)],
    ) -> Result<String, (Option<reqwest::StatusCode>, ShipError)> {
        let mut url = self.url.clone();
        if !settings.is_empty() {
            url.query_pairs_mut().extend_pairs(settings);
        }
        let body = if body.is_empty() {
            query.as_bytes().to_vec()
        } else {
            url.query_pairs_mut().append_pair("query", query);
            body
        };
        let mut req = self.http.post(url).body(body);
        if self.user.is_some() || self.password.is_some() {
            req = req.basic_auth(
                self.user.as_deref().unwrap_or("default"),
                self.password.as_ref().map(|p| p.0.as_str()),
            );
        }
        let shown = crate::redact::url(&self.url);
        let resp = req.send().await.map_err(|e| {
            let e = ShipError(format!(
                "cannot reach ClickHouse at {shown}: {}",
                chain(&e.without_url())
            ));
            (None, e)
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| {
            let e = ShipError(format!(
                "ClickHouse at {shown} broke off its answer: {}",
                chain(&e.without_url())
            ));
            (None, e)
        })?;
        if !status.is_success() {
            let mut msg: String = text.trim().chars().take(400).collect();
            if let Some(p) = &self.password {
                // ClickHouse does not echo passwords, but make sure.
                if !p.0.is_empty() {
                    msg = msg.replace(&p.0, "<hidden>");
                }
            }
            return Err((
                Some(status),
                ShipError(format!("ClickHouse at {shown} answered {status}: {msg}")),
            ));
        }
        Ok(text)
    }
}

/// An error and its sources, joined with ": ".
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_plain_words() {
        assert!(valid_identifier("vantage"));
        assert!(valid_identifier("measurements_2"));
        for bad in ["", "a.b", "a`b", "a b", "a;DROP", "тест"] {
            assert!(!valid_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn versions_say_what_the_server_offers() {
        let old = Version::parse("18.16.1").unwrap();
        let new = Version::parse("26.9.2.1\n").unwrap();
        assert_eq!((old, new), (Version(18, 16), Version(26, 9)));
        assert!(!old.query_parameters() && !old.async_insert());
        assert!(new.query_parameters() && new.async_insert());
        assert!(Version(19, 11).query_parameters() && !Version(21, 10).async_insert());
        assert_eq!(Version::parse("Ok."), None);
    }

    #[test]
    fn secrets_print_hidden() {
        assert!(format!("{:?}", Secret("pw".into())).contains("hidden"));
    }
}
