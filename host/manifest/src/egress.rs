//! `[egress]`: the outbound HTTP an agent may make, as allow rules, and the judgement of one request
//! against them. Everything no rule allows is denied, naming why; addresses that are not public
//! (loopback, private, link-local, ...) are denied even to an allowed host unless its rule names
//! them (`private = true`, or the address itself as the rule's host), so that neither a DNS answer
//! nor a numeric host form (`http://2130706433/`, `[::ffff:127.0.0.1]`) reaches past the rules.
//!
//! ```toml
//! [egress]
//! max-concurrent = 4            # requests in flight at once, per call
//! max-request-bytes = "1MiB"    # the largest request body
//! max-response-bytes = "8MiB"   # the largest response body; past it the response is cut
//! timeout = "10s"               # per request, and never past the call's deadline
//!
//! [[egress.allow]]
//! name = "github"               # named when a request is denied or counted
//! host = "api.github.com"       # or "*.github.com" (subdomains only), or an IP address
//! scheme = "https"              # default "https"
//! port = 443                    # default: the scheme's
//! methods = ["GET", "POST"]     # default: any
//! path = "/repos/"              # a path prefix; default "/"
//! private = false               # may reach non-public addresses (default false)
//! ```
//!
//! This module knows no HTTP stack: the engine asks [`Egress::permit`] before it resolves a host and
//! [`EgressRule::admits`] for each address it would connect to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::Deserialize;

use crate::schema::Size;
use crate::values::{check_range, parse_duration};

/// `[egress]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EgressSection {
    /// `max-concurrent`: requests in flight at once, per call.
    pub max_concurrent: Option<u64>,
    /// `max-request-bytes`: the largest request body.
    pub max_request_bytes: Option<Size>,
    /// `max-response-bytes`: the largest response body.
    pub max_response_bytes: Option<Size>,
    /// `timeout`: per request.
    pub timeout: Option<String>,
    /// `[[egress.allow]]`: the rules.
    #[serde(default)]
    pub allow: Vec<RuleEntry>,
}

/// One `[[egress.allow]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    /// `name`: how denials and counters name it.
    pub name: String,
    /// `host`: an exact name, `*.suffix`, or an IP address.
    pub host: String,
    /// `scheme`: `https` (default) or `http`.
    pub scheme: Option<String>,
    /// `port`: default the scheme's.
    pub port: Option<u16>,
    /// `methods`: default any.
    pub methods: Option<Vec<String>>,
    /// `path`: a path prefix, default `/`.
    pub path: Option<String>,
    /// `private`: may reach addresses that are not public.
    #[serde(default)]
    pub private: bool,
}

/// A URL scheme outbound requests may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http`, port 80 by default.
    Http,
    /// `https`, port 443 by default.
    Https,
}

impl Scheme {
    /// The scheme named `text` (ASCII case ignored).
    pub fn parse(text: &str) -> Option<Scheme> {
        match text.to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }

    /// Its default port.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// What a rule's host matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// This name only (lower case, no trailing dot).
    Exact(String),
    /// Names ending in `.suffix` (not `suffix` itself).
    Subdomains(String),
    /// This address only, written as the host; naming it allows it even when it is not public.
    Address(IpAddr),
}

/// A request's host as a URL parser reads it: a name, or an address in any of its written forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name, lower case, without a trailing dot.
    Name(String),
    /// An address (`127.0.0.1`, `2130706433`, `0x7f.1`, `[::1]`).
    Address(IpAddr),
}

/// One allow rule, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRule {
    /// Its name.
    pub name: String,
    /// The scheme it allows.
    pub scheme: Scheme,
    /// The hosts it allows.
    pub host: HostPattern,
    /// The port it allows.
    pub port: u16,
    /// The methods it allows (upper case); `None`: any.
    pub methods: Option<Vec<String>>,
    /// The path prefix it allows.
    pub path: String,
    /// Whether addresses that are not public may be reached through it.
    pub private: bool,
}

/// The egress an agent is granted: its rules and bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Egress {
    /// The allow rules, in the manifest's order.
    pub rules: Vec<EgressRule>,
    /// Requests in flight at once, per call.
    pub max_concurrent: usize,
    /// The largest request body, in bytes.
    pub max_request_bytes: u64,
    /// The largest response body, in bytes.
    pub max_response_bytes: u64,
    /// Per request (the call's deadline bounds it too).
    pub timeout: Duration,
}

/// Why a request, or an address it would reach, is denied: shown to the guest, counted and logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressDenied {
    /// The URL cannot be read.
    #[error("egress denied: `{url}` is not a URL this host sends: {reason}")]
    BadUrl {
        /// The URL as the guest gave it.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No rule allows the request.
    #[error("egress denied: no [[egress.allow]] rule allows {method} {url}{closest}")]
    NoRule {
        /// The method.
        method: String,
        /// The URL.
        url: String,
        /// The rule for the same host that came closest, and what it does not allow.
        closest: String,
    },
    /// The host resolved to (or is) an address its rule does not name.
    #[error(
        "egress denied: {host} is {address} ({class}), which rule `{rule}` does not allow (set `private = true` in it, or name the address)"
    )]
    Address {
        /// The host.
        host: String,
        /// The address it resolved to.
        address: IpAddr,
        /// What kind of address it is.
        class: AddressClass,
        /// The rule that allowed the request.
        rule: String,
    },
}

/// The kinds of address that are not reached without a rule naming them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Reachable on the internet.
    Public,
    /// This machine (`127.0.0.0/8`, `::1`).
    Loopback,
    /// A private network (`10/8`, `172.16/12`, `192.168/16`, `100.64/10`, `fc00::/7`).
    Private,
    /// A link (`169.254/16`, `fe80::/10`): cloud metadata services live here.
    LinkLocal,
    /// No address (`0.0.0.0/8`, `::`).
    Unspecified,
    /// Multicast or broadcast.
    Multicast,
    /// Reserved for documentation, benchmarks or future use.
    Reserved,
}

impl std::fmt::Display for AddressClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AddressClass::Public => "public",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::LinkLocal => "link-local",
            AddressClass::Unspecified => "unspecified",
            AddressClass::Multicast => "multicast",
            AddressClass::Reserved => "reserved",
        })
    }
}

/// What kind of address `address` is; an IPv6 address that embeds an IPv4 one (mapped
/// `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`) is judged by the IPv4 one.
pub fn classify(address: IpAddr) -> AddressClass {
    match address {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    let mapped = s[..5] == [0; 5] && s[5] == 0xffff;
    let compatible = s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1);
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    (mapped || compatible || nat64).then_some(tail)
}

fn classify_v4(v4: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = v4.octets();
    if v4.is_loopback() {
        AddressClass::Loopback
    } else if v4.is_unspecified() || a == 0 {
        AddressClass::Unspecified
    } else if v4.is_private() || (a == 100 && (64..128).contains(&b)) {
        AddressClass::Private
    } else if v4.is_link_local() {
        AddressClass::LinkLocal
    } else if v4.is_multicast() || v4.is_broadcast() {
        AddressClass::Multicast
    } else if a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
    {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

fn classify_v6(v6: Ipv6Addr) -> AddressClass {
    let first = v6.segments()[0];
    if v6.is_loopback() {
        AddressClass::Loopback
    } else if v6.is_unspecified() {
        AddressClass::Unspecified
    } else if v6.is_multicast() {
        AddressClass::Multicast
    } else if first & 0xfe00 == 0xfc00 {
        AddressClass::Private
    } else if first & 0xffc0 == 0xfe80 {
        AddressClass::LinkLocal
    } else if first == 0x2001 && v6.segments()[1] == 0x0db8 || first & 0xe000 != 0x2000 {
        // Documentation, and everything outside global unicast (2000::/3).
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

/// The host of an authority (`host[:port]`) as a WHATWG URL parser reads it, so that every written
/// form of an address is an address; and its port, if written.
pub fn parse_authority(scheme: Scheme, authority: &str) -> Result<(Host, Option<u16>), String> {
    if authority.is_empty() {
        return Err("it has no host".into());
    }
    if authority.contains(['@', '/', '\\', '?', '#']) || authority.chars().any(char::is_whitespace)
    {
        return Err(format!("`{authority}` is not a host[:port]"));
    }
    let url = url::Url::parse(&format!("{}://{authority}/", scheme.as_str()))
        .map_err(|e| format!("`{authority}`: {e}"))?;
    let host = match url.host() {
        Some(url::Host::Domain(name)) => Host::Name(name.trim_end_matches('.').to_string()),
        Some(url::Host::Ipv4(v4)) => Host::Address(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Host::Address(IpAddr::V6(v6)),
        None => return Err("it has no host".into()),
    };
    Ok((host, url.port()))
}

impl HostPattern {
    fn parse(text: &str) -> Result<HostPattern, String> {
        let bad = || format!("`{text}` is not a host name, `*.suffix` or an IP address");
        if text.strip_prefix("*.").unwrap_or(text).contains('*') {
            return Err(format!(
                "`{text}`: `*` may only stand for the subdomains at the start (`*.example.com`)"
            ));
        }
        if let Some(suffix) = text.strip_prefix("*.") {
            return match parse_authority(Scheme::Https, suffix) {
                Ok((Host::Name(name), None)) => Ok(HostPattern::Subdomains(name)),
                _ => Err(bad()),
            };
        }
        let bracketed = text.parse::<Ipv6Addr>().map(|v6| format!("[{v6}]"));
        let written = bracketed.as_deref().unwrap_or(text);
        match parse_authority(Scheme::Https, written) {
            Ok((Host::Name(name), None)) => Ok(HostPattern::Exact(name)),
            Ok((Host::Address(address), None)) => Ok(HostPattern::Address(address)),
            _ => Err(bad()),
        }
    }

    /// Whether it matches `host`.
    pub fn matches(&self, host: &Host) -> bool {
        match (self, host) {
            (HostPattern::Exact(want), Host::Name(name)) => want == name,
            (HostPattern::Subdomains(suffix), Host::Name(name)) => name
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            (HostPattern::Address(want), Host::Address(address)) => want == address,
            _ => false,
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostPattern::Exact(name) => f.write_str(name),
            HostPattern::Subdomains(suffix) => write!(f, "*.{suffix}"),
            HostPattern::Address(address) => write!(f, "{address}"),
        }
    }
}

/// A request the guest asked to send, as the engine reads it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// `host[:port]`.
    pub authority: &'a str,
    /// The method.
    pub method: &'a str,
    /// The path and query (`/a/b?c`).
    pub path: &'a str,
}

/// A request a rule allows: the rule, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit<'a> {
    /// The rule that allows it.
    pub rule: &'a EgressRule,
    /// The host.
    pub host: Host,
    /// The port.
    pub port: u16,
}

impl EgressRule {
    /// What of `request` this rule does not allow (`None`: it allows it all).
    fn refuses(&self, scheme: Scheme, port: u16, method: &str, path: &str) -> Option<String> {
        if scheme != self.scheme {
            return Some(format!(
                "scheme {} (it allows {})",
                scheme.as_str(),
                self.scheme.as_str()
            ));
        }
        if port != self.port {
            return Some(format!("port {port} (it allows {})", self.port));
        }
        if let Some(methods) = &self.methods
            && !methods.iter().any(|m| m == method)
        {
            return Some(format!(
                "method {method} (it allows {})",
                methods.join(", ")
            ));
        }
        if !path_within(path, &self.path) {
            return Some(format!("path {path} (it allows {}...)", self.path));
        }
        None
    }

    /// Whether an address a request through this rule would reach is allowed: a public one always;
    /// any other only when the rule says `private = true` or names that address.
    pub fn admits(&self, host: &Host, address: IpAddr) -> Result<(), EgressDenied> {
        let class = classify(address);
        let named = matches!(self.host, HostPattern::Address(want) if want == address);
        if class == AddressClass::Public || self.private || named {
            return Ok(());
        }
        Err(EgressDenied::Address {
            host: match host {
                Host::Name(name) => name.clone(),
                Host::Address(address) => address.to_string(),
            },
            address,
            class,
            rule: self.name.clone(),
        })
    }
}

/// Whether `path` (with its query) lies under `prefix`: percent-escapes and dot segments that
/// could climb out of the prefix are refused rather than judged.
fn path_within(path: &str, prefix: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return false;
    }
    let climbs = path
        .split('/')
        .any(|segment| segment == ".." || segment == "." || segment.contains('%'));
    if climbs && prefix != "/" {
        return false;
    }
    path.starts_with(prefix)
}

impl Egress {
    /// The rule that allows `request`, or why none does (naming the rule for the same host that
    /// came closest). Addresses are judged after resolution, by [`EgressRule::admits`].
    pub fn permit(&self, request: Request<'_>) -> Result<Permit<'_>, EgressDenied> {
        let url = format!("{}://{}{}", request.scheme, request.authority, request.path);
        let bad = |reason: String| EgressDenied::BadUrl {
            url: url.clone(),
            reason,
        };
        let scheme = Scheme::parse(request.scheme)
            .ok_or_else(|| bad(format!("scheme `{}` is not http or https", request.scheme)))?;
        let (host, port) = parse_authority(scheme, request.authority).map_err(bad)?;
        let port = port.unwrap_or(scheme.default_port());
        let method = request.method.to_ascii_uppercase();
        let mut closest = String::new();
        for rule in &self.rules {
            if !rule.host.matches(&host) {
                continue;
            }
            match rule.refuses(scheme, port, &method, request.path) {
                None => return Ok(Permit { rule, host, port }),
                Some(why) if closest.is_empty() => {
                    closest = format!(" (rule `{}` matches the host but not its {why})", rule.name);
                }
                Some(_) => {}
            }
        }
        Err(EgressDenied::NoRule {
            method,
            url,
            closest,
        })
    }
}

/// The bounds `[egress]` values must lie in.
const MAX_CONCURRENT: u64 = 256;
const MAX_BODY: u64 = 1 << 30;
const TIMEOUT_RANGE: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(3600));

/// Checks `[egress]` and resolves it; `None` when it allows nothing. An error is the key and what
/// is wrong with it.
pub fn resolve_egress(section: &EgressSection) -> Result<Option<Egress>, (String, String)> {
    let count = |key: &str, value: Option<u64>, default: u64, max: u64| {
        let value = value.unwrap_or(default);
        check_range(value, 1, max, |v| v.to_string()).map_err(|m| (format!("egress.{key}"), m))?;
        Ok::<u64, (String, String)>(value)
    };
    let size = |key: &str, value: &Option<Size>, default: u64| {
        let bytes = match value {
            Some(size) => size.bytes().map_err(|m| (format!("egress.{key}"), m))?,
            None => default,
        };
        count(key, Some(bytes), default, MAX_BODY)
    };
    let egress = Egress {
        max_concurrent: count("max-concurrent", section.max_concurrent, 4, MAX_CONCURRENT)?
            as usize,
        max_request_bytes: size("max-request-bytes", &section.max_request_bytes, 1 << 20)?,
        max_response_bytes: size("max-response-bytes", &section.max_response_bytes, 8 << 20)?,
        timeout: match &section.timeout {
            Some(text) => parse_duration(text, TIMEOUT_RANGE.0, TIMEOUT_RANGE.1)
                .map_err(|m| ("egress.timeout".to_string(), m))?,
            None => Duration::from_secs(10),
        },
        rules: section
            .allow
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                resolve_rule(entry).map_err(|(key, m)| (format!("egress.allow[{i}].{key}"), m))
            })
            .collect::<Result<_, _>>()?,
    };
    let mut names: Vec<&str> = egress.rules.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err((
            "egress.allow".into(),
            format!("two rules are named `{}`", pair[0]),
        ));
    }
    Ok((!egress.rules.is_empty()).then_some(egress))
}

fn resolve_rule(entry: &RuleEntry) -> Result<EgressRule, (String, String)> {
    crate::names::check_name("rule name", &entry.name).map_err(|m| ("name".to_string(), m))?;
    let scheme = match &entry.scheme {
        Some(text) => Scheme::parse(text).ok_or_else(|| {
            (
                "scheme".to_string(),
                format!("`{text}` is not http or https"),
            )
        })?,
        None => Scheme::Https,
    };
    let host = HostPattern::parse(&entry.host).map_err(|m| ("host".to_string(), m))?;
    if entry.port == Some(0) {
        return Err(("port".into(), "0 is not a port".into()));
    }
    let methods = match &entry.methods {
        Some(methods) if methods.is_empty() => {
            return Err((
                "methods".into(),
                "an empty list allows nothing: leave it out for any".into(),
            ));
        }
        Some(methods) => Some(
            methods
                .iter()
                .map(|m| {
                    let upper = m.to_ascii_uppercase();
                    if upper.is_empty() || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
                        return Err((
                            "methods".to_string(),
                            format!("`{m}` is not an HTTP method"),
                        ));
                    }
                    Ok(upper)
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let path = entry.path.clone().unwrap_or_else(|| "/".into());
    if !path.starts_with('/')
        || path.contains(['?', '#', '%'])
        || path.split('/').any(|s| s == "..")
    {
        return Err((
            "path".into(),
            format!("`{path}` is not a path prefix like \"/v1/\""),
        ));
    }
    Ok(EgressRule {
        name: entry.name.clone(),
        scheme,
        port: entry.port.unwrap_or(scheme.default_port()),
        host,
        methods,
        path,
        private: entry.private,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn egress(toml_text: &str) -> Egress {
        #[derive(Deserialize)]
        struct Wrapper {
            egress: EgressSection,
        }
        let wrapper: Wrapper = toml::from_str(toml_text).unwrap();
        resolve_egress(&wrapper.egress).unwrap().unwrap()
    }

    fn request<'a>(method: &'a str, url: &'a str) -> Request<'a> {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        Request {
            scheme,
            authority,
            method,
            path: if path.is_empty() { "/" } else { path },
        }
    }

    const RULES: &str = r#"
        [egress]
        [[egress.allow]]
        name = "api"
        host = "api.example.com"
        methods = ["GET", "post"]
        path = "/v1/"
        [[egress.allow]]
        name = "cdn"
        host = "*.cdn.example.net"
        scheme = "http"
        port = 8080
        [[egress.allow]]
        name = "local"
        host = "127.0.0.1"
        scheme = "http"
        port = 9000
    "#;

    #[test]
    fn a_request_is_allowed_by_the_rule_that_names_it_all() {
        let e = egress(RULES);
        let ok = |m, u| e.permit(request(m, u)).map(|p| p.rule.name.clone());
        assert_eq!(
            ok("GET", "https://api.example.com/v1/users?x=1").unwrap(),
            "api"
        );
        assert_eq!(
            ok("post", "https://API.example.com:443/v1/").unwrap(),
            "api"
        );
        assert_eq!(
            ok("GET", "http://a.b.cdn.example.net:8080/").unwrap(),
            "cdn"
        );
        assert_eq!(ok("GET", "http://127.0.0.1:9000/").unwrap(), "local");
    }

    #[test]
    fn each_part_of_a_request_can_refuse_it_and_the_denial_says_which() {
        let e = egress(RULES);
        let denied = |m, u| e.permit(request(m, u)).unwrap_err().to_string();
        let d = denied("DELETE", "https://api.example.com/v1/x");
        assert!(
            d.contains("rule `api`") && d.contains("method DELETE"),
            "{d}"
        );
        let d = denied("GET", "https://api.example.com/v2/x");
        assert!(d.contains("path /v2/x"), "{d}");
        let d = denied("GET", "http://api.example.com/v1/x");
        assert!(d.contains("scheme http"), "{d}");
        let d = denied("GET", "https://api.example.com:8443/v1/x");
        assert!(d.contains("port 8443"), "{d}");
        let d = denied("GET", "https://evil.example.com/v1/");
        assert!(d.contains("no [[egress.allow]] rule allows GET"), "{d}");
        // `*.suffix` is subdomains only, and not a look-alike.
        assert!(
            e.permit(request("GET", "http://cdn.example.net:8080/"))
                .is_err()
        );
        assert!(
            e.permit(request("GET", "http://xcdn.example.net:8080/"))
                .is_err()
        );
        // Dot segments and escapes cannot climb out of a prefix.
        assert!(
            e.permit(request("GET", "https://api.example.com/v1/../admin"))
                .is_err()
        );
        assert!(
            e.permit(request("GET", "https://api.example.com/v1/%2e%2e/admin"))
                .is_err()
        );
    }

    #[test]
    fn every_written_form_of_an_address_is_that_address() {
        let e = egress(RULES);
        for url in [
            "http://2130706433:9000/",
            "http://0x7f.0.0.1:9000/",
            "http://0177.0.0.1:9000/",
            "http://127.1:9000/",
        ] {
            let permit = e.permit(request("GET", url)).unwrap();
            assert_eq!(
                permit.host,
                Host::Address("127.0.0.1".parse().unwrap()),
                "{url}"
            );
            assert_eq!(permit.rule.name, "local");
        }
        // The decimal form of a name-only rule's host is not that host.
        let d = e
            .permit(request("GET", "https://2130706433/v1/"))
            .unwrap_err();
        assert!(d.to_string().contains("no [[egress.allow]] rule"), "{d}");
        // Smuggling in the authority is no URL.
        for authority in ["api.example.com@127.0.0.1", "api.example.com/x", "a b"] {
            let r = Request {
                scheme: "https",
                authority,
                method: "GET",
                path: "/v1/",
            };
            assert!(
                matches!(e.permit(r), Err(EgressDenied::BadUrl { .. })),
                "{authority}"
            );
        }
    }

    #[test]
    fn addresses_that_are_not_public_need_their_rule_to_name_them() {
        let e = egress(RULES);
        let api = &e.rules[0];
        let host = Host::Name("api.example.com".into());
        assert!(api.admits(&host, "93.184.216.34".parse().unwrap()).is_ok());
        for (address, class) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("64:ff9b::a00:1", "private"),
            ("fd00::1", "private"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
        ] {
            let denied = api.admits(&host, address.parse().unwrap()).unwrap_err();
            assert!(
                denied.to_string().contains(&format!("({class})")),
                "{address}: {denied}"
            );
        }
        // The rule that names the address admits it; `private = true` admits any.
        let local = &e.rules[2];
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(local.admits(&Host::Address(loopback), loopback).is_ok());
        let mut open = api.clone();
        open.private = true;
        assert!(open.admits(&host, "10.0.0.1".parse().unwrap()).is_ok());
    }

    #[test]
    fn bad_rules_are_refused_naming_the_key() {
        let refused = |rule: &str| {
            let text = format!("[egress]\n[[egress.allow]]\n{rule}\n");
            #[derive(Deserialize)]
            struct Wrapper {
                egress: EgressSection,
            }
            let wrapper: Wrapper = toml::from_str(&text).unwrap();
            resolve_egress(&wrapper.egress).unwrap_err()
        };
        let (key, message) = refused("name = \"x\"\nhost = \"a b\"");
        assert_eq!(key, "egress.allow[0].host");
        assert!(message.contains("`a b`"), "{message}");
        let (key, _) = refused("name = \"x\"\nhost = \"a.com\"\nscheme = \"ftp\"");
        assert_eq!(key, "egress.allow[0].scheme");
        let (key, _) = refused("name = \"x\"\nhost = \"a.com\"\nmethods = []");
        assert_eq!(key, "egress.allow[0].methods");
        let (key, _) = refused("name = \"x\"\nhost = \"a.com\"\npath = \"v1\"");
        assert_eq!(key, "egress.allow[0].path");
        let (key, _) = refused("name = \"X\"\nhost = \"a.com\"");
        assert_eq!(key, "egress.allow[0].name");
        let (key, message) = refused(
            "name = \"x\"\nhost = \"a.com\"\n[[egress.allow]]\nname = \"x\"\nhost = \"b.com\"",
        );
        assert_eq!(
            (key.as_str(), message.as_str()),
            ("egress.allow", "two rules are named `x`")
        );
        // An IPv6 host is written bare.
        let e =
            egress("[egress]\n[[egress.allow]]\nname = \"v6\"\nhost = \"::1\"\nscheme = \"http\"");
        assert_eq!(
            e.rules[0].host,
            HostPattern::Address("::1".parse().unwrap())
        );
        assert!(e.permit(request("GET", "http://[::1]/")).is_ok());
    }
}
