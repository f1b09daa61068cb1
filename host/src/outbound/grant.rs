//! A host a plugin may call, as `capabilities.outbound_hosts` grants it:
//! `[http://|https://]host[:port]`, where `host` is a name, `*.name` (any
//! name under it) or an IP address. Without a scheme both are granted;
//! without a port, each scheme's default (80, 443).
//!
//! Addresses inside the operator's network (loopback, private, link-local,
//! the cloud metadata address…) are reached only through a grant *by
//! address*: a granted name that resolves to one is refused, which is what
//! stops DNS rebinding.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The schemes outbound requests may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
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

/// One granted host, parsed from its `plugin.json` text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct OutboundGrant {
    text: String,
    scheme: Option<Scheme>,
    host: GrantedHost,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GrantedHost {
    /// Exactly this name (lower case, no trailing dot).
    Name(String),
    /// Any name ending in `.` and this one (`*.example.com`).
    Under(String),
    /// This address, which may be an internal one.
    Address(IpAddr),
}

impl OutboundGrant {
    /// Whether this grant covers a request to `host:port` over `scheme`
    /// (`host` as the request names it: a name or an address).
    #[cfg_attr(not(feature = "outbound-http"), allow(dead_code))]
    pub(crate) fn covers(&self, scheme: Scheme, host: &RequestHost, port: u16) -> bool {
        let scheme_fits = self.scheme.is_none_or(|granted| granted == scheme);
        let port_fits = self.port.unwrap_or(scheme.default_port()) == port;
        let host_fits = match (&self.host, host) {
            (GrantedHost::Name(granted), RequestHost::Name(name)) => granted == name,
            (GrantedHost::Under(parent), RequestHost::Name(name)) => {
                name.strip_suffix(parent.as_str()).is_some_and(|head| head.len() > 1 && head.ends_with('.'))
            }
            (GrantedHost::Address(granted), RequestHost::Address(address)) => {
                granted.to_canonical() == address.to_canonical()
            }
            _ => false,
        };
        scheme_fits && port_fits && host_fits
    }
}

impl fmt::Display for OutboundGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<OutboundGrant> for String {
    fn from(grant: OutboundGrant) -> String {
        grant.text
    }
}

impl TryFrom<String> for OutboundGrant {
    type Error = String;

    fn try_from(text: String) -> Result<OutboundGrant, String> {
        let problem = |why: &str| {
            format!(
                "`{text}` is not a host grant ({why}): write `api.example.com`, `https://api.example.com:8443`, `*.example.com` or `127.0.0.1:8080`"
            )
        };
        let (scheme, rest) = match text.split_once("://") {
            Some(("http", rest)) => (Some(Scheme::Http), rest),
            Some(("https", rest)) => (Some(Scheme::Https), rest),
            Some(_) => return Err(problem("only http and https")),
            None => (None, text.as_str()),
        };
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(problem("a host and port only: no path, query or user"));
        }
        let authority = http::uri::Authority::from_str(rest).map_err(|_| problem("not a host and port"))?;
        let port = match authority.port() {
            Some(port) => {
                Some(Some(port.as_u16()).filter(|port| *port != 0).ok_or_else(|| problem("port 0"))?)
            }
            None if authority.as_str() != authority.host() => return Err(problem("not a port")),
            None => None,
        };
        let host = match RequestHost::parse(authority.host()) {
            RequestHost::Address(address) => GrantedHost::Address(address),
            RequestHost::Name(name) => match name.strip_prefix("*.") {
                Some(parent) if is_dns_name(parent) => GrantedHost::Under(parent.to_string()),
                None if is_dns_name(&name) => GrantedHost::Name(name),
                _ => return Err(problem("not a host name")),
            },
        };
        Ok(OutboundGrant { text, scheme, host, port })
    }
}

/// The host a request names, as grants compare it.
#[cfg_attr(not(feature = "outbound-http"), allow(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestHost {
    Name(String),
    Address(IpAddr),
}

impl RequestHost {
    /// `host` from a URI: an address (IPv6 in brackets) or a name, which is
    /// compared in lower case without a trailing dot.
    pub(crate) fn parse(host: &str) -> RequestHost {
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        match bare.parse::<IpAddr>() {
            Ok(address) => RequestHost::Address(address),
            Err(_) => RequestHost::Name(host.trim_end_matches('.').to_ascii_lowercase()),
        }
    }
}

/// A host name: labels of letters, digits and inner hyphens, the last not
/// all digits (`2130706433` or `127.1` would be an address to a resolver).
fn is_dns_name(name: &str) -> bool {
    let last_is_numeric =
        name.rsplit('.').next().is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()));
    !last_is_numeric
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether `address` is inside the operator's network or otherwise not a
/// public destination: only a grant by address reaches it.
#[cfg_attr(not(feature = "outbound-http"), allow(dead_code))]
pub(crate) fn is_internal(address: IpAddr) -> bool {
    match address.to_canonical() {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    v4.is_unspecified()
        || v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relays
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

fn is_internal_v6(v6: Ipv6Addr) -> bool {
    let segments = v6.segments();
    let embedded_v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    v6.is_unspecified()
        || v6.is_loopback()
        || v6.is_multicast()
        || v6.is_unique_local()
        || v6.is_unicast_link_local()
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] == 0x2001 && segments[1] == 0) // Teredo
        || (segments[0] & 0xfff0) == 0x3ff0 // documentation (3fff::/20)
        || segments[..4] == [0x100, 0, 0, 0] // discard-only
        || (segments[0] == 0x64 && segments[1] == 0xff9b && segments[2] == 1) // local NAT64
        // IPv4-compatible, NAT64 and 6to4 carry an IPv4 address that may be internal.
        || (segments[..6] == [0, 0, 0, 0, 0, 0] && is_internal_v4(embedded_v4(segments[6], segments[7])))
        || (segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && is_internal_v4(embedded_v4(segments[6], segments[7])))
        || (segments[0] == 0x2002 && is_internal_v4(embedded_v4(segments[1], segments[2])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(text: &str) -> OutboundGrant {
        OutboundGrant::try_from(text.to_string()).expect(text)
    }

    fn covers(grant_text: &str, scheme: Scheme, host: &str, port: u16) -> bool {
        grant(grant_text).covers(scheme, &RequestHost::parse(host), port)
    }

    #[test]
    fn a_grant_covers_its_scheme_host_and_port_only() {
        assert!(covers("api.example.com", Scheme::Https, "API.example.com.", 443));
        assert!(covers("api.example.com", Scheme::Http, "api.example.com", 80));
        assert!(!covers("api.example.com", Scheme::Https, "api.example.com", 8443));
        assert!(!covers("api.example.com", Scheme::Https, "evil.com", 443));
        assert!(!covers("api.example.com", Scheme::Https, "api.example.com.evil.com", 443));
        assert!(covers("https://api.example.com:8443", Scheme::Https, "api.example.com", 8443));
        assert!(!covers("https://api.example.com:8443", Scheme::Http, "api.example.com", 8443));
        assert!(covers("*.example.com", Scheme::Https, "a.b.example.com", 443));
        assert!(!covers("*.example.com", Scheme::Https, "example.com", 443));
        assert!(!covers("*.example.com", Scheme::Https, "badexample.com", 443));
        assert!(covers("127.0.0.1:8080", Scheme::Http, "127.0.0.1", 8080));
        assert!(!covers("127.0.0.1:8080", Scheme::Http, "localhost", 8080));
        assert!(covers("[::1]:8080", Scheme::Http, "[::1]", 8080));
        assert!(covers("[::ffff:127.0.0.1]:8080", Scheme::Http, "127.0.0.1", 8080));
    }

    #[test]
    fn malformed_grants_say_what_to_write() {
        for bad in [
            "2130706433",
            "127.1",
            "*.1",
            "",
            "ftp://x.com",
            "x.com/path",
            "user@x.com",
            "x.com:0",
            "x..com",
            "*.",
            "-x.com",
            "x.com:99999",
        ] {
            let error = OutboundGrant::try_from(bad.to_string()).expect_err(bad);
            assert!(error.contains("write `api.example.com`"), "{bad}: {error}");
        }
    }

    #[test]
    fn internal_addresses_are_told_from_public_ones() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "::7f00:1",
            "64:ff9b:1::1",
            "2001::1",
            "192.88.99.1",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700::1111", "64:ff9b::5db8:d822"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }
}
