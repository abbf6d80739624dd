//! `ApiJson<T>`: the JSON body extractor. It reads the body (within the size
//! limit) but parses it only when the handler asks, after it has checked the
//! caller's role: a caller without the role learns 403, never what is wrong
//! with its body. Parsing refuses bodies nested deeper than 32 levels, and its
//! errors name the field that is wrong.

use axum::body::Bytes;
use std::marker::PhantomData;

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Deepest nesting of arrays and objects accepted in a request body.
pub const MAX_DEPTH: usize = 32;

/// A JSON body read but not yet parsed as a `T`; see [`ApiJson::parse`].
pub struct ApiJson<T>(Bytes, PhantomData<fn() -> T>);

impl<T: DeserializeOwned> ApiJson<T> {
    /// The body as a `T`; call it after the role check.
    pub fn parse(&self) -> Result<T, ApiError> {
        parse(&self.0)
    }
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge("request body is over the 1 MiB limit".into())
            } else {
                ApiError::BadRequest(format!("cannot read the request body: {e}"))
            }
        })?;
        Ok(ApiJson(bytes, PhantomData))
    }
}

/// Parses a body, naming the path of the offending field in errors.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("request body is empty; expected a JSON object".into()));
    }
    if nesting_depth(bytes) > MAX_DEPTH {
        return Err(ApiError::BadRequest(format!("JSON is nested deeper than {MAX_DEPTH} levels")));
    }
    // Well-formed bodies are the common case: parse them straight, since
    // tracking the path slows every parse. Only a body that fails is parsed
    // again, to name the offending field.
    serde_json::from_slice(bytes).map_err(|_| explain::<T>(bytes))
}

/// Why `bytes` is not a `T`, naming the path of the offending field.
fn explain<T: DeserializeOwned>(bytes: &[u8]) -> ApiError {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => {
            let path = e.path().to_string();
            let inner = plain_words(&e.into_inner().to_string());
            if path.is_empty() || path == "." {
                ApiError::BadRequest(format!("invalid JSON body: {inner}"))
            } else {
                ApiError::BadRequest(format!("invalid `{path}`: {inner}"))
            }
        }
        Ok(_) => match de.end() {
            Err(e) => ApiError::BadRequest(format!("invalid JSON body: {e}")),
            // Unreachable: the same bytes just failed to parse as a `T`.
            Ok(()) => ApiError::BadRequest("invalid JSON body".into()),
        },
    }
}

/// serde's wording in a user's words: `invalid type: sequence, expected struct
/// Train` says "expected a JSON object, found an array"; `invalid length 0,
/// expected struct Train with 13 elements` says "expected a JSON object".
/// Messages that already read well (missing or unknown fields, our own
/// messages for instants and ids) pass through.
fn plain_words(message: &str) -> String {
    let (text, position) = match message.rfind(" at line ") {
        Some(i) => message.split_at(i),
        None => (message, ""),
    };
    let found_expected = |rest: &str| -> Option<(String, String)> {
        let (found, expected) = rest.split_once(", expected ")?;
        Some((found.to_string(), expected.to_string()))
    };
    let plain = if let Some((found, expected)) = text.strip_prefix("invalid type: ").and_then(found_expected) {
        format!("expected {}, found {}", kind(&expected), kind(&found))
    } else if let Some((_, expected)) = text.strip_prefix("invalid length ").and_then(found_expected) {
        format!("expected {}", kind(&expected))
    } else {
        text.to_string()
    };
    format!("{plain}{position}")
}

/// A JSON kind as a user would name it.
fn kind(serde_kind: &str) -> String {
    let k = serde_kind.trim();
    if k.starts_with("struct ") || k == "a map" || k == "map" {
        "a JSON object".into()
    } else if k == "a sequence" || k == "sequence" || k.starts_with("tuple") {
        "an array".into()
    } else if k == "unit value" || k == "null" {
        "null".into()
    } else {
        k.to_string()
    }
}

/// The deepest array/object nesting, ignoring brackets inside strings.
fn nesting_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(nesting_depth(br#"{"a": "[[[[{{{"}"#), 1);
        assert_eq!(nesting_depth(br#"[[[]]]"#), 3);
        assert_eq!(nesting_depth(br#"{"a": "\"[", "b": [1]}"#), 2);
    }

    #[test]
    fn errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct T {
            crb_approved: bool,
        }
        let e = parse::<T>(br#"{"crb_approved": "yes"}"#).unwrap_err().to_string();
        assert!(e.contains("crb_approved"), "{e}");
        let e = parse::<T>(br#"{"crb_approved": true, "colour": 1}"#).unwrap_err().to_string();
        assert!(e.contains("colour"), "{e}");
        let deep = "[".repeat(40) + &"]".repeat(40);
        let e = parse::<T>(deep.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("nested deeper than 32"), "{e}");
    }

    /// The straight parse and the one that explains a failure agree: a good
    /// body parses, a nested field is named by its path, trailing bytes fail.
    #[test]
    fn a_failed_parse_is_explained_by_its_path() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Inner {
            regions: Vec<String>,
        }
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Outer {
            train: Inner,
        }
        let good = parse::<Outer>(br#"{"train": {"regions": ["eu-west-1"]}}"#).unwrap();
        assert_eq!(good, Outer { train: Inner { regions: vec!["eu-west-1".into()] } });
        let e = parse::<Outer>(br#"{"train": {"regions": ["eu-west-1", 7]}}"#).unwrap_err().to_string();
        assert!(e.contains("invalid `train.regions[1]`"), "{e}");
        let e = parse::<Outer>(br#"{"train": {"regions": []}} x"#).unwrap_err().to_string();
        assert!(e.contains("invalid JSON body: trailing characters"), "{e}");
    }

    /// No serde wording reaches users: kinds are named as JSON names them,
    /// and an instant says what it should look like.
    #[test]
    fn errors_read_as_plain_words() {
        let e = parse::<signalbox_core::Train>(b"[]").unwrap_err().to_string();
        assert_eq!(e, "invalid JSON body: expected a JSON object at line 1 column 2");
        let e = parse::<signalbox_core::Train>(br#""x""#).unwrap_err().to_string();
        assert_eq!(e, r#"invalid JSON body: expected a JSON object, found string "x" at line 1 column 3"#);
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Ids {
            train_ids: Vec<String>,
        }
        let e = parse::<Ids>(br#"{"train_ids": "CHG1"}"#).unwrap_err().to_string();
        assert_eq!(e, r#"invalid `train_ids`: expected an array, found string "CHG1" at line 1 column 20"#);
        let body = br#"{"id": "CHG1", "squad": "s", "service": "s", "configuration_item": "c", "environment": "stage",
            "regions": ["us-south"], "title": "t", "planned_start": "2026-12-07T15:00:00", "planned_end": "2026-12-07T16:00:00Z"}"#;
        let e = parse::<signalbox_core::Train>(body).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid `planned_start`: expected an RFC 3339 instant like 2026-11-23T15:00:00Z, found `2026-12-07T15:00:00`"),
            "{e}"
        );
        for words in ["invalid type", "invalid length", "struct", "sequence", "elements"] {
            assert!(!e.contains(words), "{e}");
        }
    }
}
