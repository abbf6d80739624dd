//! `ApiJson<T>`: the JSON body extractor. It refuses bodies nested deeper than
//! 32 levels before parsing, and its errors name the field that is wrong.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Deepest nesting of arrays and objects accepted in a request body.
pub const MAX_DEPTH: usize = 32;

pub struct ApiJson<T>(pub T);

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
        parse(&bytes).map(ApiJson)
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
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            ApiError::BadRequest(format!("invalid JSON body: {inner}"))
        } else {
            ApiError::BadRequest(format!("invalid `{path}`: {inner}"))
        }
    })?;
    de.end().map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    Ok(value)
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
}
