//! How names compare and how they are checked, in one place.
//!
//! - Hub names come from file names (`chat.wasm` → `chat`) and compare
//!   ASCII case-insensitively everywhere (URLs, the registry, Redis keys).
//! - Hub names, node ids and the channel prefix become parts of Redis keys
//!   and channel names, so they are restricted to letters, digits, `-`,
//!   `_` and `.`: no `:` (the key separator), no glob characters (SCAN
//!   patterns), no braces (Redis Cluster hash tags).
//! - Connection ids, user ids and group names compare exactly; inside a
//!   Redis key they are escaped ([`key_part`]), so no name can make one
//!   key look like another.
//! - Attribute keys are lowercase; values compare with
//!   [`crate::cluster::selection::wildcard_match`].

use std::borrow::Cow;

/// Longest hub name, node id or prefix.
pub const MAX_NAME: usize = 64;

/// The key a hub name is stored and looked up under.
pub fn hub_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Whether two hub names name the same hub.
pub fn same_hub(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Checks a hub name or node id; the error says what is wrong.
pub fn check_name(name: &str) -> Result<(), String> {
    check_chars(name, "")
}

/// Checks the key prefix: a name that may also hold `:` (`prod:eu`), as
/// Redis namespaces usually do. It only ever stands first in a key.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    check_chars(prefix, ":")
}

fn check_chars(name: &str, also: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".to_owned());
    }
    if name.len() > MAX_NAME {
        return Err(format!("it is longer than {MAX_NAME} characters"));
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') || also.contains(*c)))
    {
        Some(bad) => Err(format!(
            "{bad:?} is not allowed: use letters, digits, '-', '_' and '.'{}",
            if also.is_empty() { "" } else { " (and ':')" }
        )),
        None => Ok(()),
    }
}

/// A free-form name (user, group, attribute key) as part of a Redis key:
/// `%`, `:`, braces, glob characters, whitespace and control characters
/// are percent-escaped. Names without them are returned as they are.
pub fn key_part(name: &str) -> Cow<'_, str> {
    let special = |c: char| {
        matches!(c, '%' | ':' | '{' | '}' | '*' | '?' | '[' | ']' | '\\')
            || c.is_whitespace()
            || c.is_control()
    };
    if !name.chars().any(special) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        if special(c) {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_break_keys_are_refused() {
        assert!(check_name("chat").is_ok());
        assert!(check_name("chat-py.v2_x").is_ok());
        for bad in [
            "",
            "chat:user:x",
            "a b",
            "room*",
            "{tag}",
            "ü",
            &"x".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_prefix("prod:eu").is_ok());
        assert!(check_prefix("prod eu").is_err());
        assert_eq!(
            check_name("chat:user:x").unwrap_err(),
            "':' is not allowed: use letters, digits, '-', '_' and '.'"
        );
    }

    #[test]
    fn key_parts_are_escaped_only_when_needed() {
        assert!(matches!(key_part("alice"), Cow::Borrowed("alice")));
        assert_eq!(key_part("x:connections"), "x%3Aconnections");
        assert_eq!(key_part("50%"), "50%25");
        assert_eq!(key_part("a b"), "a%20b");
        assert_eq!(key_part("{t}*"), "%7Bt%7D%2A");
        // Distinct names stay distinct.
        assert_ne!(key_part("a:b"), key_part("a%3Ab"));
    }

    #[test]
    fn hub_names_compare_case_insensitively() {
        assert!(same_hub("Chat", "chat"));
        assert_eq!(hub_key("Chat"), "chat");
    }
}
