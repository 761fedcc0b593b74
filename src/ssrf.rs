//! Which addresses a webhook may reach (SPEC §5.6).
//!
//! Hook URLs whose host is an IP literal are checked when the hook is saved; host names are
//! resolved and every address checked at delivery time, and the connection goes to the checked
//! address only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The operator's exceptions (`HOOKD_ALLOWED_TARGETS`), e.g. `127.0.0.0/8` for local receivers.
#[derive(Clone, Debug, Default)]
pub struct TargetPolicy {
    allowed: Vec<IpNet>,
}

impl TargetPolicy {
    pub fn new(allowed: Vec<IpNet>) -> TargetPolicy {
        TargetPolicy { allowed }
    }

    /// `Err` with the address class (e.g. "loopback") when a webhook must not connect to `ip`.
    /// The class, not the address: what an internal name resolves to is no one's business.
    pub fn check(&self, ip: IpAddr) -> Result<(), &'static str> {
        let ip = canonical(ip);
        if self.allowed.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        match blocked_reason(ip) {
            Some(class) => Err(class),
            None => Ok(()),
        }
    }
}

/// The DNS resolver of the delivery client: resolves, refuses the whole name if any address
/// is blocked, and hands the client only the addresses it checked, so the connection goes to a
/// checked address and no second lookup can answer differently (DNS rebinding).
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    policy: Arc<TargetPolicy>,
}

impl GuardedResolver {
    pub fn new(policy: Arc<TargetPolicy>) -> GuardedResolver {
        GuardedResolver { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} did not resolve to any address").into());
            }
            for addr in &addrs {
                policy.check(addr.ip()).map_err(|class| {
                    format!(
                        "target not allowed: {host} resolves to a {class} address (HOOKD_ALLOWED_TARGETS can allow it)"
                    )
                })?;
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible forms are judged as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => blocked_v4(ip),
        IpAddr::V6(ip) => blocked_v6(ip),
    }
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        _ if ip.is_unspecified() || a == 0 => "unspecified (0.0.0.0/8)",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private (RFC 1918)",
        _ if ip.is_link_local() => "link-local",
        _ if a == 100 && (64..128).contains(&b) => "shared (CGNAT 100.64.0.0/10)",
        _ if ip.is_broadcast() => "broadcast",
        _ if ip.is_multicast() || a >= 240 => "multicast or reserved",
        _ if ip.is_documentation() => "documentation",
        _ if a == 198 && (b == 18 || b == 19) => "benchmarking (198.18.0.0/15)",
        _ if a == 192 && b == 0 && c == 0 => "IETF protocol assignment (192.0.0.0/24)",
        _ => return None,
    })
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(match () {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_multicast() => "multicast",
        _ if first & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        _ if first & 0xffc0 == 0xfe80 => "link-local",
        _ if first & 0xffc0 == 0xfec0 => "site-local",
        _ if first == 0x2001 && ip.segments()[1] == 0x0db8 => "documentation",
        _ => {
            return embedded_v4(ip)
                .into_iter()
                .find_map(|(v4, form)| blocked_v4(v4).map(|_| form));
        }
    })
}

/// The IPv4 addresses an IPv6 address embeds, with the form's name: such an address reaches
/// (or is translated to) the IPv4 one, so it is judged by it.
fn embedded_v4(ip: Ipv6Addr) -> Vec<(Ipv4Addr, &'static str)> {
    let s = ip.segments();
    let v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    let last = v4(s[6], s[7]);
    match s {
        // IPv4-compatible (::a.b.c.d, deprecated).
        [0, 0, 0, 0, 0, 0, _, _] => vec![(last, "IPv4-compatible")],
        // IPv4-translated (::ffff:0:a.b.c.d, RFC 2765).
        [0, 0, 0, 0, 0xffff, 0, _, _] => vec![(last, "IPv4-translated")],
        // NAT64: the well-known prefix 64:ff9b::/96 and the local-use 64:ff9b:1::/48.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => vec![(last, "NAT64")],
        // 6to4 (2002::/16): the IPv4 address follows the prefix.
        [0x2002, high, low, ..] => vec![(v4(high, low), "6to4")],
        // Teredo (2001::/32): the server's address, and the client's (bit-inverted) last.
        [0x2001, 0, server_high, server_low, _, _, client_high, client_low] => vec![
            (v4(server_high, server_low), "Teredo"),
            (v4(!client_high, !client_low), "Teredo"),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_internal_ranges_and_allows_public_ones() {
        let policy = TargetPolicy::default();
        for blocked in [
            "127.0.0.1",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
            // Forms that embed an internal IPv4 address.
            "::ffff:0:127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "64:ff9b:1::a00:1",
            "2001:0:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
        ] {
            let ip: IpAddr = blocked.parse().unwrap_or_else(|_| panic!("{blocked}"));
            assert!(policy.check(ip).is_err(), "{blocked} should be blocked");
        }
        for allowed in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:5db8:d822::1",
            "64:ff9b::808:808",
            "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
        ] {
            let ip: IpAddr = allowed.parse().unwrap_or_else(|_| panic!("{allowed}"));
            assert!(policy.check(ip).is_ok(), "{allowed} should be allowed");
        }
    }

    #[test]
    fn allow_list_overrides_including_mapped_forms() {
        let policy = TargetPolicy::new(vec!["127.0.0.0/8".parse().expect("cidr")]);
        assert!(policy.check("127.0.0.1".parse().expect("ip")).is_ok());
        assert!(policy.check("::ffff:127.0.0.1".parse().expect("ip")).is_ok());
        assert!(policy.check("::1".parse().expect("ip")).is_err());
    }
}
