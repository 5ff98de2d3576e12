//! Bearer tokens: found in the `Authorization` header or the
//! `access_token` query parameter (browsers cannot set headers on a
//! WebSocket), checked on negotiate and again on connect.

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};

use crate::cluster::Attributes;
use crate::config::JwtKey;

/// Who a valid token says the client is.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The `sub` claim.
    pub user: Option<String>,
    /// Every claim as an attribute: strings as they are, arrays as several
    /// values, other values as JSON text.
    pub claims: Attributes,
}

/// Why a request is unauthorized (logged, never sent to the client).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

/// Checks a request's token against the configured key. Without a key,
/// every request is anonymous and passes.
pub fn authenticate(
    key: Option<&JwtKey>,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Result<Identity, AuthError> {
    let Some(key) = key else {
        return Ok(Identity::default());
    };
    let token = bearer(headers)
        .or_else(|| {
            query
                .iter()
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v.clone())
        })
        .ok_or(AuthError::Missing)?;
    let (decoding, algorithm) = match key {
        JwtKey::Secret(secret) => (DecodingKey::from_secret(secret), Algorithm::HS256),
        JwtKey::RsaPem(pem) => (DecodingKey::from_rsa_pem(pem)?, Algorithm::RS256),
    };
    let mut validation = Validation::new(algorithm);
    validation.leeway = 5;
    validation.validate_aud = false;
    let data =
        decode::<serde_json::Map<String, serde_json::Value>>(&token, &decoding, &validation)?;
    let mut identity = Identity::default();
    for (name, value) in data.claims {
        if name == "sub" {
            identity.user = value.as_str().map(str::to_owned);
        }
        let values = match value {
            serde_json::Value::String(s) => vec![s],
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect(),
            other => vec![other.to_string()],
        };
        identity.claims.insert(name.to_ascii_lowercase(), values);
    }
    Ok(identity)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header, encode};

    fn token(secret: &[u8], claims: serde_json::Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn header_or_query_token_gives_user_and_claims() {
        let key = JwtKey::Secret(b"s3cret".to_vec());
        let t = token(
            b"s3cret",
            serde_json::json!({"sub": "alice", "exp": now() + 60, "Role": ["admin", "ops"]}),
        );
        let mut headers = HeaderMap::new();
        headers.insert("authorization", format!("Bearer {t}").parse().unwrap());
        let id = authenticate(Some(&key), &headers, &[]).unwrap();
        assert_eq!(id.user.as_deref(), Some("alice"));
        assert_eq!(
            id.claims["role"],
            vec!["admin".to_string(), "ops".to_string()]
        );
        let id =
            authenticate(Some(&key), &HeaderMap::new(), &[("access_token".into(), t)]).unwrap();
        assert_eq!(id.user.as_deref(), Some("alice"));
    }

    #[test]
    fn bad_tokens_are_refused() {
        let key = JwtKey::Secret(b"s3cret".to_vec());
        assert!(matches!(
            authenticate(Some(&key), &HeaderMap::new(), &[]),
            Err(AuthError::Missing)
        ));
        let wrong = token(b"other", serde_json::json!({"sub": "a", "exp": now() + 60}));
        assert!(
            authenticate(
                Some(&key),
                &HeaderMap::new(),
                &[("access_token".into(), wrong)]
            )
            .is_err()
        );
        let expired = token(
            b"s3cret",
            serde_json::json!({"sub": "a", "exp": now() - 120}),
        );
        assert!(
            authenticate(
                Some(&key),
                &HeaderMap::new(),
                &[("access_token".into(), expired)]
            )
            .is_err()
        );
        assert_eq!(
            authenticate(None, &HeaderMap::new(), &[]).unwrap(),
            Identity::default()
        );
    }
}
