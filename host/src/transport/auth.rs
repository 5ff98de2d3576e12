//! Bearer tokens: found in the `Authorization` header or the
//! `access_token` query parameter (browsers cannot set headers on a
//! WebSocket), checked on negotiate and again on connect.
//!
//! Checked: the signature with the configured algorithm only, `exp`
//! (required) and `nbf`, with a small leeway for clock skew, and `iss` /
//! `aud` when the operator requires them.

use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};

use crate::cluster::Attributes;
use crate::config::{Jwt, JwtKey};

/// Clock skew tolerated between the token issuer and this host.
const LEEWAY_SECONDS: u64 = 30;

/// Who a valid token says the client is.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The `sub` claim.
    pub user: Option<String>,
    /// Every claim as an attribute: strings as they are, arrays as several
    /// values, other values as JSON text. Claims win over attributes the
    /// client chose (`@key` query parameters, `#key` headers).
    pub claims: Attributes,
    /// When the token expires (its `exp`): the connection closes then.
    pub expires: Option<SystemTime>,
}

/// Why a request is unauthorized (logged, never sent to the client).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

/// Checks tokens: the key parsed and the rules set up once.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl Verifier {
    /// A verifier for the configured key and claims; fails only on a key
    /// that does not parse (settings checked it already).
    pub fn new(jwt: &Jwt) -> Result<Self, jsonwebtoken::errors::Error> {
        let (key, algorithm) = match &jwt.key {
            JwtKey::Secret(secret) => (DecodingKey::from_secret(secret), Algorithm::HS256),
            JwtKey::RsaPem(pem) => (DecodingKey::from_rsa_pem(pem)?, Algorithm::RS256),
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        match &jwt.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &jwt.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(Self { key, validation })
    }
}

/// Checks a request's token. Without a verifier (no key configured),
/// every request is anonymous and passes.
pub fn authenticate(
    verifier: Option<&Verifier>,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Result<Identity, AuthError> {
    let Some(verifier) = verifier else {
        return Ok(Identity::default());
    };
    let token = bearer(headers)
        .or_else(|| {
            query
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("access_token"))
                .map(|(_, v)| v.clone())
        })
        .ok_or(AuthError::Missing)?;
    let data = decode::<serde_json::Map<String, serde_json::Value>>(
        &token,
        &verifier.key,
        &verifier.validation,
    )?;
    let mut identity = Identity::default();
    for (name, value) in data.claims {
        if name == "sub" {
            identity.user = value.as_str().map(str::to_owned);
        }
        if name == "exp" {
            identity.expires = value
                .as_u64()
                .map(|secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
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

    fn verifier(issuer: Option<&str>, audience: Option<&str>) -> Verifier {
        Verifier::new(&Jwt {
            key: JwtKey::Secret(b"s3cret".to_vec()),
            issuer: issuer.map(str::to_owned),
            audience: audience.map(str::to_owned),
        })
        .unwrap()
    }

    fn check(key: &Verifier, claims: serde_json::Value) -> Result<Identity, AuthError> {
        let query = [("ACCESS_TOKEN".to_owned(), token(b"s3cret", claims))];
        authenticate(Some(key), &HeaderMap::new(), &query)
    }

    #[test]
    fn nbf_iss_and_aud_are_checked_with_a_leeway() {
        let any = verifier(None, None);
        let exp = now() + 600;
        assert!(check(&any, serde_json::json!({"sub": "a", "exp": exp})).is_ok());
        // Not yet valid, beyond the leeway; within it.
        assert!(check(&any, serde_json::json!({"exp": exp, "nbf": now() + 120})).is_err());
        assert!(check(&any, serde_json::json!({"exp": exp, "nbf": now() + 10})).is_ok());
        // Expired within the leeway still passes; beyond it, not.
        assert!(check(&any, serde_json::json!({"exp": now() - 10})).is_ok());
        assert!(check(&any, serde_json::json!({"exp": now() - 120})).is_err());
        let strict = verifier(Some("idp"), Some("hubs"));
        let good = serde_json::json!({"exp": exp, "iss": "idp", "aud": ["other", "hubs"]});
        assert!(check(&strict, good).is_ok());
        for bad in [
            serde_json::json!({"exp": exp, "iss": "evil", "aud": "hubs"}),
            serde_json::json!({"exp": exp, "iss": "idp", "aud": "other"}),
            serde_json::json!({"exp": exp, "aud": "hubs"}),
            serde_json::json!({"exp": exp, "iss": "idp"}),
        ] {
            assert!(check(&strict, bad.clone()).is_err(), "{bad}");
        }
        let identity = check(&any, serde_json::json!({"exp": exp})).unwrap();
        let expires = identity.expires.unwrap();
        assert_eq!(
            expires
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            exp
        );
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn header_or_query_token_gives_user_and_claims() {
        let key = verifier(None, None);
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
        let key = verifier(None, None);
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
