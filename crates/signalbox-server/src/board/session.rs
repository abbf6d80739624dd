//! The session cookie and the same-site check every board form passes.

use axum::http::{header, HeaderMap};

use crate::api::error::ApiError;
use crate::service::SESSION_LIFETIME;

/// The cookie that holds a board session's id.
pub const COOKIE: &str = "signalbox_session";

/// The session id a request's cookie carries, if any.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Strict, for the board's
/// paths only, as long as the session lives; Secure when the request came
/// over TLS (as a proxy in front says with `X-Forwarded-Proto: https`).
pub fn session_cookie(id: &str, headers: &HeaderMap) -> String {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    format!("{COOKIE}={id}; Path=/board; Max-Age={}; HttpOnly; SameSite=Strict{secure}", SESSION_LIFETIME.num_seconds())
}

/// `Set-Cookie` that ends the session in the browser.
pub fn clear_cookie() -> &'static str {
    "signalbox_session=; Path=/board; Max-Age=0; HttpOnly; SameSite=Strict"
}

fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').next().is_some_and(|p| p.trim().eq_ignore_ascii_case("https")))
}

/// Refuses (403) a form post that does not come from a page of this site: its
/// `Origin` must be present and name the host it was sent to, and a browser's
/// `Sec-Fetch-Site`, when sent, must say `same-origin`.
pub fn check_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let refuse = |why: &str| Err(ApiError::Forbidden(format!("cross-site form posts are refused: {why}")));
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" {
            return refuse(&format!("`Sec-Fetch-Site` is `{site}`"));
        }
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return refuse("no `Origin` header");
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return refuse("no `Host` header");
    };
    let same = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host);
    if !same {
        return refuse(&format!("`Origin` `{origin}` is not this site (`{host}`)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_static(value));
        }
        h
    }

    #[test]
    fn the_session_id_is_read_from_its_cookie_only() {
        let h = headers(&[("cookie", "a=1; signalbox_session=abc ; b=2")]);
        assert_eq!(session_id(&h), Some("abc"));
        assert_eq!(session_id(&headers(&[("cookie", "signalbox_sessionx=abc")])), None);
        assert_eq!(session_id(&headers(&[("cookie", "signalbox_session=")])), None);
        assert_eq!(session_id(&headers(&[("cookie", "a=1"), ("cookie", "signalbox_session=z")])), Some("z"));
    }

    #[test]
    fn only_same_origin_posts_pass() {
        let ok = headers(&[("host", "board.example:8080"), ("origin", "http://board.example:8080")]);
        assert!(check_origin(&ok).is_ok());
        let tls = headers(&[("host", "b.example"), ("origin", "https://b.example"), ("sec-fetch-site", "same-origin")]);
        assert!(check_origin(&tls).is_ok());
        for bad in [
            headers(&[("host", "b.example"), ("origin", "https://evil.example")]),
            headers(&[("host", "b.example"), ("origin", "null")]),
            headers(&[("host", "b.example")]),
            headers(&[("host", "b.example"), ("origin", "https://b.example"), ("sec-fetch-site", "cross-site")]),
            headers(&[("host", "b.example"), ("origin", "https://b.example.evil.example")]),
        ] {
            let Err(ApiError::Forbidden(message)) = check_origin(&bad) else { panic!("passed: {bad:?}") };
            assert!(message.starts_with("cross-site form posts are refused"), "{message}");
        }
    }

    #[test]
    fn the_cookie_is_strict_http_only_and_secure_behind_tls() {
        let plain = session_cookie("id1", &HeaderMap::new());
        assert_eq!(plain, "signalbox_session=id1; Path=/board; Max-Age=43200; HttpOnly; SameSite=Strict");
        let tls = session_cookie("id1", &headers(&[("x-forwarded-proto", "https")]));
        assert!(tls.ends_with("; SameSite=Strict; Secure"), "{tls}");
    }
}
