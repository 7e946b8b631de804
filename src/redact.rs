//! What of a URL may leave the process: printed, logged, or written into a record. A control
//! or ClickHouse URL can carry a password, an API key or a token in its userinfo, query or
//! fragment; only scheme, host, port and path are ever shown.

/// `url` without userinfo, query or fragment.
pub fn url(url: &url::Url) -> url::Url {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_query_and_fragment_never_show() {
        let u = url::Url::parse("https://alice:hunter2@h.example:8443/th/?key=abc#frag").unwrap();
        assert_eq!(super::url(&u).as_str(), "https://h.example:8443/th/");
    }
}
