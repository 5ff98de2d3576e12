//! API keys: which requests may use the server API and the dashboard.
//!
//! The check keeps only the keys' SHA-256 digests (the settings still
//! hold the keys themselves), and a presented key is compared digest to
//! digest in constant time, so timing gives no key away; no key is ever
//! logged or put in an error message.

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The keys that open the server API.
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

/// Why a request was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer` or `X-Api-Key` header.
    Missing,
    /// A key that is not one of ours.
    Wrong,
}

impl ApiKeys {
    /// None when no key is configured: the server API is off.
    pub fn new(keys: &[String]) -> Option<Self> {
        (!keys.is_empty()).then(|| Self {
            digests: keys.iter().map(|key| digest(key)).collect(),
        })
    }

    /// Whether the request carries one of the keys.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let presented = presented_key(headers).ok_or(Refusal::Missing)?;
        let presented = digest(presented);
        // Every key is compared, so the time does not say which matched.
        let matched = self
            .digests
            .iter()
            .fold(0u8, |any, known| any | known.ct_eq(&presented).unwrap_u8());
        if matched == 1 {
            Ok(())
        } else {
            Err(Refusal::Wrong)
        }
    }
}

/// The key a request carries: `Authorization: Bearer KEY`, else
/// `X-Api-Key: KEY`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    bearer
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
        })
        .filter(|key| !key.is_empty())
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[test]
    fn a_key_opens_by_either_header_and_nothing_else_does() {
        assert!(ApiKeys::new(&[]).is_none(), "no key: the API is off");
        let keys = ApiKeys::new(&[
            "first-key-0123456789".into(),
            "second-key-0123456789".into(),
        ])
        .unwrap();
        assert_eq!(
            keys.check(&headers("authorization", "Bearer second-key-0123456789")),
            Ok(())
        );
        assert_eq!(
            keys.check(&headers("x-api-key", "first-key-0123456789")),
            Ok(())
        );
        assert_eq!(
            keys.check(&headers("authorization", "Bearer first-key-012345678")),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            keys.check(&headers("authorization", "Basic first-key-0123456789")),
            Err(Refusal::Missing)
        );
        assert_eq!(keys.check(&HeaderMap::new()), Err(Refusal::Missing));
        assert_eq!(format!("{keys:?}"), "ApiKeys(2 keys)");
    }
}
