//! Which URLs outbound HTTP may reach: host patterns, written the same
//! way in an operator's `--http-allow` and a hub's `[grants] http`.
//!
//! A pattern is `[scheme://]host[:port]`:
//! - `host` is a name or an IP address, `*.example.com` (any name under
//!   it, not `example.com` itself) or `*` (any host);
//! - without a scheme, `http` and `https` both match;
//! - without a port, only the scheme's default port (80, 443) matches;
//!   `:*` matches any port.
//!
//! Names compare ASCII case-insensitively, as DNS does.

use std::fmt;
use std::str::FromStr;

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    text: String,
    scheme: Option<Scheme>,
    host: HostMatch,
    port: PortMatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    /// Lowercase.
    Exact(String),
    /// Lowercase, with its leading dot: `.example.com`.
    Under(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortMatch {
    SchemeDefault,
    Any,
    Is(u16),
}

/// Where a request goes, read from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    scheme: Scheme,
    /// Lowercase; an IPv6 address without its brackets.
    host: String,
    port: u16,
}

impl Destination {
    /// The destination of an absolute `http://` or `https://` URL.
    pub fn of(url: &url::Url) -> Result<Destination, String> {
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => {
                return Err(format!(
                    "'{other}:' URLs are not HTTP: use http:// or https://"
                ));
            }
        };
        // Credentials in the URL would reach the resolver and the log:
        // they belong in a header.
        if !url.username().is_empty() || url.password().is_some() {
            return Err("a URL may not carry a user or password: send credentials in a header (authorization)".to_owned());
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => name.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err("the URL has no host".to_owned()),
        };
        Ok(Destination {
            scheme,
            host,
            port: url.port().unwrap_or(scheme.default_port()),
        })
    }
}

impl Destination {
    /// Whether the host is a name, not an IP address.
    fn is_name(&self) -> bool {
        self.host.parse::<std::net::IpAddr>().is_err()
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        match self.host.contains(':') {
            true => write!(f, "{scheme}://[{}]:{}", self.host, self.port),
            false => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

impl HostPattern {
    /// Whether a request to `to` may go.
    pub fn matches(&self, to: &Destination) -> bool {
        if self.scheme.is_some_and(|scheme| scheme != to.scheme) {
            return false;
        }
        let port = match self.port {
            PortMatch::Any => true,
            PortMatch::Is(port) => port == to.port,
            PortMatch::SchemeDefault => to.port == to.scheme.default_port(),
        };
        port && match &self.host {
            HostMatch::Any => true,
            HostMatch::Exact(host) => *host == to.host,
            HostMatch::Under(suffix) => to.is_name() && to.host.ends_with(suffix.as_str()),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Whether any of `patterns` lets a request to `to` go.
pub fn allows(patterns: &[HostPattern], to: &Destination) -> bool {
    patterns.iter().any(|pattern| pattern.matches(to))
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for HostPattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| Err(format!("'{text}' is not a host pattern: {why}"));
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return bad("it is empty");
        }
        let (scheme, rest) = match trimmed.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "http" => (Some(Scheme::Http), rest),
                "https" => (Some(Scheme::Https), rest),
                "*" => (None, rest),
                _ => return bad("the scheme must be http, https or *"),
            },
            None => (None, trimmed),
        };
        if rest.contains(['/', '?', '#', '@']) {
            return bad("give a host and port only, no path or user");
        }
        let (host, port) = split_port(rest);
        let port = match port {
            None => PortMatch::SchemeDefault,
            Some("*") => PortMatch::Any,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => PortMatch::Is(port),
                _ => return bad("the port must be 1 to 65535 or *"),
            },
        };
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostMatch::Any
        } else if let Some(under) = host.strip_prefix("*.") {
            // `*.0.0.1` is no domain: it would match IP addresses.
            let numeric = under
                .rsplit('.')
                .next()
                .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()));
            if !is_name(under) || numeric {
                return bad("after '*.' comes a domain name");
            }
            HostMatch::Under(format!(".{under}"))
        } else if let Some(ip) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            match ip.parse::<std::net::Ipv6Addr>() {
                Ok(ip) => HostMatch::Exact(ip.to_string()),
                Err(_) => return bad("not an IPv6 address in brackets"),
            }
        } else if host.parse::<std::net::Ipv4Addr>().is_ok() || is_name(&host) {
            HostMatch::Exact(host)
        } else {
            return bad("the host must be a name, an IP address, *.domain or *");
        };
        Ok(HostPattern {
            text: trimmed.to_owned(),
            scheme,
            host,
            port,
        })
    }
}

/// `host:port` → (`host`, `port`); an IPv6 host keeps its brackets.
fn split_port(rest: &str) -> (&str, Option<&str>) {
    if rest.starts_with('[') {
        return match rest.find(']') {
            Some(end) => match rest[end + 1..].strip_prefix(':') {
                Some(port) => (&rest[..=end], Some(port)),
                None => (rest, None),
            },
            None => (rest, None),
        };
    }
    match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    }
}

/// A DNS name: dot-separated labels of letters, digits, `-` and `_`.
fn is_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(url: &str) -> Destination {
        Destination::of(&url::Url::parse(url).unwrap()).unwrap()
    }

    fn pattern(text: &str) -> HostPattern {
        text.parse().unwrap()
    }

    #[test]
    fn a_bare_host_is_both_schemes_on_their_default_ports() {
        let p = pattern("api.example.com");
        assert!(p.matches(&to("https://api.example.com/v1")));
        assert!(p.matches(&to("http://API.Example.com/")));
        assert!(!p.matches(&to("https://api.example.com:8443/")));
        assert!(!p.matches(&to("https://example.com/")));
        assert!(!p.matches(&to("https://evil-api.example.com/")));
        assert!(!p.matches(&to("https://api.example.com.evil.net/")));
    }

    #[test]
    fn schemes_ports_and_wildcards() {
        assert!(pattern("127.0.0.1:8080").matches(&to("http://127.0.0.1:8080/x")));
        assert!(!pattern("127.0.0.1:8080").matches(&to("http://127.0.0.1:8081/x")));
        assert!(!pattern("https://a.com").matches(&to("http://a.com/")));
        assert!(pattern("http://a.com:*").matches(&to("http://a.com:9/")));
        assert!(pattern("*.example.com").matches(&to("https://a.b.example.com/")));
        assert!(!pattern("*.example.com").matches(&to("https://example.com/")));
        assert!(pattern("*").matches(&to("https://anything.net/")));
        assert!(!pattern("*").matches(&to("https://anything.net:444/")));
        assert!(pattern("*:*").matches(&to("http://10.0.0.1:1/")));
        assert!(pattern("[::1]:9000").matches(&to("http://[::1]:9000/")));
        assert!(pattern("*://localhost:*").matches(&to("https://localhost:3/")));
    }

    #[test]
    fn bad_patterns_say_why() {
        for (text, says) in [
            ("", "empty"),
            ("ftp://a.com", "scheme"),
            ("a.com/path", "no path"),
            ("a.com:0", "port"),
            ("a.com:http", "port"),
            ("*.", "domain name"),
            ("a..com", "host must be"),
            ("[zz]", "IPv6"),
            ("*.0.0.1", "domain name"),
        ] {
            let error = text.parse::<HostPattern>().unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn only_http_urls_have_a_destination() {
        let error = Destination::of(&url::Url::parse("file:///etc/passwd").unwrap()).unwrap_err();
        assert!(error.contains("not HTTP"), "{error}");
        for url in [
            "http://user@a.com/",
            "http://:pw@a.com/",
            "http://u:pw@a.com/",
        ] {
            let error = Destination::of(&url::Url::parse(url).unwrap()).unwrap_err();
            assert!(error.contains("user or password"), "{url}: {error}");
        }
        assert_eq!(to("HTTP://[::1]/").to_string(), "http://[::1]:80");
    }
}
