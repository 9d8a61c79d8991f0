//! Where a request came from: the peer's address, or, when the peer is a proxy this
//! Sluice trusts (`SLUICE_TRUSTED_PROXIES`), what it says in `X-Forwarded-For` and
//! `X-Forwarded-Proto`. Anyone can send those headers; believing them from anyone
//! would let a stranger pick the address their sign-in attempts are counted under.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use sluice_engine::ClientOrigin;

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of addresses and networks (`10.0.0.0/8, 127.0.0.1`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{item:?} is not an address or network (such as 10.0.0.0/8)"))?;
            nets.push(net);
        }
        Ok(Self(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's origin, from the peer address and the request's headers.
    pub fn origin(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> ClientOrigin {
        let peer = peer.map(canonical);
        let Some(peer_ip) = peer.filter(|ip| self.trusts(*ip)) else {
            return ClientOrigin { ip: peer, https: false };
        };
        // Walk X-Forwarded-For from the right: each trusted hop vouches for the one
        // before it; the first untrusted address is the client. A malformed entry
        // ends the walk (what is left of it was written by whoever sent the request).
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer_ip;
        for hop in hops.iter().rev() {
            if !self.trusts(client) {
                break;
            }
            match hop.parse::<IpAddr>() {
                Ok(ip) => client = canonical(ip),
                Err(_) => break,
            }
        }
        let https = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
        ClientOrigin { ip: Some(client), https }
    }
}

/// `::ffff:10.0.0.1` is `10.0.0.1`: one client, one throttle key.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Decides the request's [`ClientOrigin`] once and hangs it on the request, where
/// handlers and server functions read it, and around it, where audit entries do.
pub async fn attach_origin(State(trusted): State<Arc<TrustedProxies>>, mut req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    let origin = trusted.origin(peer, req.headers());
    req.extensions_mut().insert(origin);
    // And for the audit trail, whatever writes an entry while this request runs.
    sluice_engine::service::with_origin(origin, next.run(req)).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(xff: &str, proto: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(xff).expect("header"));
        h.insert("x-forwarded-proto", HeaderValue::from_str(proto).expect("header"));
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    #[test]
    fn forwarding_headers_are_believed_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        let h = headers("198.51.100.7", "https");
        assert_eq!(none.origin(ip("203.0.113.5"), &h), ClientOrigin { ip: ip("203.0.113.5"), https: false });

        let lb = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").expect("parse");
        assert_eq!(lb.origin(ip("10.1.2.3"), &h), ClientOrigin { ip: ip("198.51.100.7"), https: true });
        // A client that writes its own X-Forwarded-For gets the proxy's append after
        // it: the right-most untrusted entry is the one the proxy saw.
        let spoofed = headers("1.2.3.4, 198.51.100.7", "http");
        assert_eq!(lb.origin(ip("10.1.2.3"), &spoofed).ip, ip("198.51.100.7"));
        // Two trusted hops: walk past both.
        let chain = headers("198.51.100.7, 10.9.9.9", "https");
        assert_eq!(lb.origin(ip("127.0.0.1"), &chain).ip, ip("198.51.100.7"));
        // Garbage ends the walk at the last address vouched for.
        let garbage = headers("not-an-ip", "https");
        assert_eq!(lb.origin(ip("10.1.2.3"), &garbage).ip, ip("10.1.2.3"));
        assert_eq!(lb.origin(ip("::ffff:10.1.2.3"), &h).ip, ip("198.51.100.7"), "IPv4-mapped peers are IPv4");
        assert_eq!(lb.origin(None, &h), ClientOrigin::default(), "no peer, nothing believed");
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.internal").is_err());
        assert_eq!(TrustedProxies::parse(" , ").expect("empty"), TrustedProxies::default());
    }
}
