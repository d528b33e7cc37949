//! Per-worker upstream connections: keep-alive pools per origin address and a small DNS
//! cache. Names are resolved on the runtime's blocking pool, never on the event loop.

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use ahash::AHashMap;
use std::sync::Arc;

use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use monoio::time::Instant;

use crate::config::client_certificate::ClientCertificate;
use crate::time::deadline::Deadline;
use crate::transport::stream::read_append;
use crate::transport::stream::{MaybeTls, UpstreamStream};
use crate::transport::tls_io::TlsStream;

/// Idle connections kept per origin for URL integrations (target groups set their own).
pub const MAX_IDLE_PER_ORIGIN: usize = 1024;
/// An idle connection older than this is not reused (upstreams commonly close at 60 s).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a resolved name is reused.
pub const DNS_TTL: Duration = Duration::from_secs(30);
/// Upstream read buffer size: a 16 KiB body and its head fit one read (at 16 KiB they took
/// two reads and two writes to the client).
pub const UPSTREAM_READ_BUF: usize = 32 * 1024;

/// Which pool a connection belongs to: its address and the pool group it serves (a TLS
/// target and a plain URL integration on the same address must not share connections, nor
/// connections that present different client certificates, or one and none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub addr: SocketAddr,
    /// The pool group: a target group's index (below [`FIRST_CERT_GROUP`]) for connections
    /// that present no client certificate; a group from [`Upstreams::client_tls`] (from
    /// [`FIRST_CERT_GROUP`] to [`LAST_CERT_GROUP`]) for a target group's connections that
    /// present a stage's certificate; `NO_GROUP` for URL integrations; the values above
    /// [`LAST_CERT_GROUP`] for the other special pools (`upstream::aws::AWS_TLS_GROUP`).
    pub group: u32,
}

pub const NO_GROUP: u32 = u32::MAX;

/// The first pool group of connections presenting a stage's client certificate. Target
/// group indexes stay below it (a configuration file of at most 16 MiB cannot name 2^31
/// groups).
pub const FIRST_CERT_GROUP: u32 = 1 << 31;
/// The last one: the pool groups above are special ones (`NO_GROUP` and others).
pub const LAST_CERT_GROUP: u32 = u32::MAX - 256;

/// How to reach an upstream and keep its connections.
pub struct Endpoint<'a> {
    pub key: PoolKey,
    /// TLS to the upstream: client configuration and the name to send and verify.
    pub tls: Option<(
        &'a Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    /// PROXY protocol v2 header with the client's (source, destination) addresses.
    pub proxy_v2: Option<(SocketAddr, SocketAddr)>,
    pub max_idle: usize,
    pub idle_timeout: Duration,
}

/// A connection to an upstream and its read buffer.
pub struct UpstreamConn {
    pub stream: UpstreamStream,
    pub rbuf: Vec<u8>,
    /// Taken from the pool (it may have been closed by the peer meanwhile).
    pub reused: bool,
    /// No later than the start of its idleness: when the last request it carried began
    /// ([`UpstreamConn::serving`]: the request's clock reading, shared) or, later, when its
    /// last bounded read or write began to wait ([`Deadline::last_wait`]). Its idle age is
    /// thus never underestimated, and pooling it reads no clock.
    idle_since: Instant,
    /// The deadline of the exchange or stream operation in progress: one alarm for the
    /// connection's life, not a timer per operation (`crate::time::deadline`).
    pub deadline: Deadline,
}

impl UpstreamConn {
    /// Open a new connection to `endpoint`: TCP, then the PROXY v2 header, then TLS, all
    /// before `deadline`. `now` is the caller's reading of the clock (at most a moment ago).
    pub async fn connect(
        endpoint: &Endpoint<'_>,
        deadline: Instant,
        now: Instant,
    ) -> io::Result<UpstreamConn> {
        let addr = endpoint.key.addr;
        // The connection's own deadline, from its first operation on.
        let mut bound = Deadline::new();
        bound.set(Some(deadline));
        let mut tcp = bound.race(TcpStream::connect_addr(addr)).await??;
        let _ = tcp.set_nodelay(true);
        if let Some((src, dst)) = endpoint.proxy_v2 {
            let mut header = Vec::with_capacity(52);
            crate::upstream::proxy_protocol::encode_v2(src, dst, &mut header);
            bound.race(tcp.write_all(header)).await?.0?;
        }
        let stream = match &endpoint.tls {
            None => MaybeTls::Plain(tcp),
            Some((config, name)) => {
                let tls = TlsStream::connect(tcp, Arc::clone(config), name.clone());
                MaybeTls::Tls(Box::new(bound.race(tls).await??))
            }
        };
        Ok(UpstreamConn {
            stream,
            rbuf: Vec::with_capacity(UPSTREAM_READ_BUF),
            reused: false,
            idle_since: now,
            deadline: bound,
        })
    }

    /// The connection carries a request that began at `started`: its idle time, once it is
    /// back in the pool, counts from then (see `idle_since`).
    pub fn serving(&mut self, started: Instant) {
        self.idle_since = started;
    }

    pub async fn read_more(&mut self) -> io::Result<usize> {
        let buf = std::mem::take(&mut self.rbuf);
        read_append(&mut self.stream, buf, &mut self.rbuf).await
    }

    /// `read_more` before `deadline`; `Err(TimedOut)` when it passes.
    pub async fn read_more_until(&mut self, deadline: Instant) -> io::Result<usize> {
        let buf = std::mem::take(&mut self.rbuf);
        let read = read_append(&mut self.stream, buf, &mut self.rbuf);
        self.deadline.race_until(deadline, read).await?
    }

    /// `read_more` within `limit` from the moment the read has to wait.
    pub async fn read_more_within(&mut self, limit: std::time::Duration) -> io::Result<usize> {
        let buf = std::mem::take(&mut self.rbuf);
        let read = read_append(&mut self.stream, buf, &mut self.rbuf);
        self.deadline.within(limit, read).await?
    }

    /// True when the peer has neither closed the connection nor sent anything unasked: a
    /// connection about to carry a new request must have nothing to read, neither in the
    /// kernel (one non-blocking `MSG_PEEK`) nor buffered by TLS. Any such byte was sent
    /// outside a response to a request made on it (an unsolicited response, the late body
    /// of a 204 or of a HEAD response) and would otherwise be read as the next answer.
    pub fn is_open_and_quiet(&mut self) -> bool {
        use std::os::fd::AsRawFd;
        if !self.rbuf.is_empty() {
            return false;
        }
        if let MaybeTls::Tls(tls) = &mut self.stream {
            if tls.has_buffered_input() {
                return false;
            }
        }
        let mut byte = 0u8;
        // SAFETY: the fd is this connection's live socket; the buffer is one valid byte and
        // MSG_PEEK | MSG_DONTWAIT neither consumes data nor blocks.
        let n = unsafe {
            libc::recv(
                self.stream.tcp().as_raw_fd(),
                &mut byte as *mut u8 as *mut libc::c_void,
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
    }

    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.rbuf.len());
        self.rbuf.drain(..n);
    }
}

/// A TLS configuration presenting a stage's client certificate, and its pool group.
pub type StageTls = (Arc<rustls::ClientConfig>, u32);

#[derive(Default)]
pub struct Upstreams {
    idle: RefCell<AHashMap<PoolKey, Vec<UpstreamConn>>>,
    dns: RefCell<AHashMap<String, (IpAddr, Instant)>>,
    /// Idle connections in all pools (the `tollgate_upstream_idle_connections` gauge).
    idle_count: std::cell::Cell<usize>,
    /// TLS configurations presenting a stage's client certificate to a target group, by
    /// (certificate id, target group index): the configuration and its pool group. Made on
    /// a pair's first request on this worker; dropped at a reload.
    client_tls: RefCell<AHashMap<(u64, u32), StageTls>>,
    /// Pool groups handed out to `client_tls` entries so far (never reset: a connection
    /// pinned to a client connection across a reload keeps its key, which no later pair
    /// may share).
    cert_groups: std::cell::Cell<u32>,
}

impl Upstreams {
    /// A pooled idle connection to `addr`, if a fresh enough one exists (idle for less than
    /// the endpoint's idle timeout at `now`, the caller's reading of the clock). Every
    /// candidate is first probed ([`UpstreamConn::is_open_and_quiet`]): one the upstream has
    /// closed, or on which it sent anything while idle, is dropped here, never reused.
    pub fn take(&self, endpoint: &Endpoint<'_>, now: Instant) -> Option<UpstreamConn> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(&endpoint.key)?;
        while let Some(mut c) = list.pop() {
            self.idle_count.set(self.idle_count.get().saturating_sub(1));
            let age = now.saturating_duration_since(c.idle_since);
            if age < endpoint.idle_timeout && c.is_open_and_quiet() {
                c.reused = true;
                return Some(c);
            }
        }
        None
    }

    /// Return a connection whose last response was read completely. Its idle time counts
    /// from its last use the connection knows of (see `idle_since`): no clock read.
    pub fn put(&self, endpoint: &Endpoint<'_>, mut conn: UpstreamConn) {
        if !conn.rbuf.is_empty() {
            return; // unexpected extra bytes: the connection is not reusable
        }
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(endpoint.key).or_default();
        if list.len() < endpoint.max_idle {
            if let Some(t) = conn.deadline.last_wait() {
                conn.idle_since = conn.idle_since.max(t);
            }
            list.push(conn);
            self.idle_count.set(self.idle_count.get() + 1);
        }
    }

    /// Drop every idle connection and the client-certificate TLS configurations
    /// (configuration reload).
    pub fn clear(&self) {
        self.idle.borrow_mut().clear();
        self.idle_count.set(0);
        self.client_tls.borrow_mut().clear();
    }

    /// The TLS configuration and pool group for connections to target group `group` (whose
    /// own configuration is `base`) presenting the stage certificate `cert`: made on the
    /// pair's first use on this worker (`base` with the certificate and a session cache of
    /// its own), then reused until the next reload. The pool group is this worker's own for
    /// the pair, so its connections serve only this certificate. `None` once this worker has
    /// handed out every pool group of the range (2^31 - 256 pairs; not in practice).
    pub fn client_tls(
        &self,
        cert: &ClientCertificate,
        group: usize,
        base: &rustls::ClientConfig,
    ) -> Option<StageTls> {
        let key = (cert.id, u32::try_from(group).ok()?);
        if let Some((config, pool)) = self.client_tls.borrow().get(&key) {
            return Some((config.clone(), *pool));
        }
        let taken = self.cert_groups.get();
        let pool = FIRST_CERT_GROUP.checked_add(taken)?;
        if pool > LAST_CERT_GROUP {
            return None;
        }
        self.cert_groups.set(taken + 1);
        let config = cert.client_config(base);
        self.client_tls
            .borrow_mut()
            .insert(key, (config.clone(), pool));
        Some((config, pool))
    }

    /// Idle connections in all pools now.
    pub fn idle_count(&self) -> usize {
        self.idle_count.get()
    }

    /// Resolve `host` (an IP literal, or a name via the blocking pool, cached).
    pub async fn resolve(&self, host: &str, port: u16) -> io::Result<SocketAddr> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        if let Some((ip, at)) = self.dns.borrow().get(host) {
            if at.elapsed() < DNS_TTL {
                return Ok(SocketAddr::new(*ip, port));
            }
        }
        let name = host.to_owned();
        let resolved = monoio::spawn_blocking(move || {
            (name.as_str(), port)
                .to_socket_addrs()
                .map(|mut a| a.next())
        })
        .await
        .map_err(|_| io::Error::other("resolver thread failed"))??;
        let addr = resolved.ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no address for {host}"))
        })?;
        self.dns
            .borrow_mut()
            .insert(host.to_owned(), (addr.ip(), Instant::now()));
        Ok(addr)
    }
}

// The special pool groups stay above the range handed out for client certificates.
const _: () = assert!(crate::upstream::aws::AWS_TLS_GROUP > LAST_CERT_GROUP);
const _: () = assert!(NO_GROUP > LAST_CERT_GROUP && FIRST_CERT_GROUP < LAST_CERT_GROUP);

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    /// A certificate with a fresh id (the chain is a placeholder: nothing verifies it here).
    fn cert() -> ClientCertificate {
        static ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1 << 40);
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &rng,
        )
        .map(|d| d.as_ref().to_vec())
        .unwrap_or_default();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8));
        let signing = rustls::crypto::ring::sign::any_ecdsa_type(&key);
        assert!(signing.is_ok(), "a generated P-256 key loads");
        let Ok(signing) = signing else { unreachable!() };
        ClientCertificate {
            id: ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            certified: Arc::new(rustls::sign::CertifiedKey::new(
                vec![CertificateDer::from(vec![0x30, 0])],
                signing,
            )),
            subject_dn: "CN=test".into(),
            not_after: 0,
        }
    }

    fn base() -> Arc<rustls::ClientConfig> {
        match crate::transport::tls_io::insecure_client_config() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn client_tls_is_one_configuration_and_pool_group_per_certificate_and_group() {
        let pools = Upstreams::default();
        let (a, b) = (cert(), cert());
        let base = base();
        let got = |c: &ClientCertificate, g: usize| match pools.client_tls(c, g, &base) {
            Some(x) => x,
            None => panic!("no pool group"),
        };
        let (a0, pool_a0) = got(&a, 0);
        let (again, pool_again) = got(&a, 0);
        assert!(Arc::ptr_eq(&a0, &again), "made once, then reused");
        assert_eq!(pool_a0, pool_again);
        assert_eq!(pool_a0, FIRST_CERT_GROUP);
        let (_, pool_a1) = got(&a, 1);
        let (b0, pool_b0) = got(&b, 0);
        let pools_seen = [pool_a0, pool_a1, pool_b0];
        assert_eq!(
            pools_seen.iter().collect::<ahash::AHashSet<_>>().len(),
            3,
            "one pool group per pair: {pools_seen:?}"
        );
        assert!(pools_seen
            .iter()
            .all(|p| (FIRST_CERT_GROUP..=LAST_CERT_GROUP).contains(p)));
        assert!(!Arc::ptr_eq(&a0, &b0));
        // The made configurations present the certificate; the group's own does not.
        assert!(a0.client_auth_cert_resolver.has_certs());
        assert!(!base.client_auth_cert_resolver.has_certs());
        assert_eq!(a0.alpn_protocols, base.alpn_protocols);
        // A reload drops the configurations; pool groups are never handed out twice.
        pools.clear();
        let (fresh, pool_fresh) = got(&a, 0);
        assert!(!Arc::ptr_eq(&fresh, &a0), "made again after a reload");
        assert!(!pools_seen.contains(&pool_fresh), "{pool_fresh} reused");
    }

    #[test]
    fn client_tls_stops_at_the_end_of_its_range() {
        let pools = Upstreams::default();
        pools.cert_groups.set(LAST_CERT_GROUP - FIRST_CERT_GROUP);
        let base = base();
        let last = pools.client_tls(&cert(), 0, &base).map(|(_, p)| p);
        assert_eq!(last, Some(LAST_CERT_GROUP));
        assert!(pools.client_tls(&cert(), 0, &base).is_none());
        // A pair made before still has its configuration.
        let c = cert();
        pools.cert_groups.set(0);
        let first = pools.client_tls(&c, 7, &base).map(|(_, p)| p);
        pools.cert_groups.set(u32::MAX);
        assert_eq!(pools.client_tls(&c, 7, &base).map(|(_, p)| p), first);
    }
}
