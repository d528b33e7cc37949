//! The key service: one background thread per process that fetches, caches and refreshes
//! the keys of every JWT authorizer's issuer, off the request path.
//!
//! - Sources: the issuer's OIDC discovery document (`{issuer}/.well-known/openid-configuration`,
//!   a trailing `/` of the issuer dropped, then its `jwks_uri`), a JWKS URL, or a JWKS file.
//!   Authorizers with the same source share one [`PublishedKeys`] (and one fetch).
//! - Refresh: a URL's keys are fetched again when the JWKS response's `Cache-Control:
//!   max-age` runs out, clamped to [`FetchPolicy::min_ttl`, `FetchPolicy::max_ttl`]
//!   (default 1 min .. 24 h), or after [`FetchPolicy::default_ttl`] (2 h, the time API
//!   Gateway says it may cache keys) without one; a file is re-read every
//!   [`FetchPolicy::file_interval`] (30 s). A worker meeting an unknown `kid` asks for a
//!   refresh now, granted at most once per [`FetchPolicy::unknown_kid_interval`] (30 s) per
//!   source: a later ask is deferred to the end of that interval, never dropped.
//! - Failure (unreachable, bad status, not a JWKS): the last good keys stay published and
//!   the fetch is retried after 5 s, doubling up to 5 min. Never-loaded sources publish
//!   nothing (tokens are refused as having an unknown `kid`).
//! - The thread only fetches and publishes; workers read the result through
//!   [`super::KeysReader`] without locks and report unknown kids with a non-blocking send
//!   (see the CROSS-CORE notes in `keys`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crossbeam::channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use rustls::ClientConfig;

use super::fetch::{Client, FetchError};
use super::jwk::parse_jwks;
use super::keys::PublishedKeys;
use crate::log;

/// Where an issuer's keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyLocation {
    /// The issuer's OIDC discovery document, then its `jwks_uri`.
    Discovery { issuer: String },
    /// A JWKS document at this URL.
    JwksUrl(String),
    /// A JWKS document in this file.
    JwksFile(PathBuf),
}

/// A key source: where, and which CA certificates to trust for https (PEM file; `None`:
/// the system's trust roots).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeySourceSpec {
    pub location: KeyLocation,
    pub ca_file: Option<PathBuf>,
}

impl KeySourceSpec {
    pub fn new(location: KeyLocation) -> Self {
        KeySourceSpec {
            location,
            ca_file: None,
        }
    }
}

/// How the key service fetches and refreshes (see the module comment for the defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    pub default_ttl: Duration,
    pub min_ttl: Duration,
    pub max_ttl: Duration,
    pub file_interval: Duration,
    pub unknown_kid_interval: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// Connect, read and write timeout of one request.
    pub timeout: Duration,
    /// Largest discovery document or JWKS accepted.
    pub max_body: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            default_ttl: Duration::from_secs(2 * 3600),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            file_interval: Duration::from_secs(30),
            unknown_kid_interval: Duration::from_secs(30),
            retry_min: Duration::from_secs(5),
            retry_max: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            max_body: 1024 * 1024,
        }
    }
}

impl FetchPolicy {
    /// How long keys fetched with `max_age` (seconds, from Cache-Control) stay fresh.
    pub fn ttl(&self, max_age: Option<u64>) -> Duration {
        max_age
            .map_or(self.default_ttl, Duration::from_secs)
            .clamp(self.min_ttl, self.max_ttl.max(self.min_ttl))
    }

    /// The wait before retry number `failures` (1 = the first retry).
    pub fn backoff(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(20);
        self.retry_min
            .saturating_mul(1u32 << shift)
            .min(self.retry_max.max(self.retry_min))
    }
}

/// Messages to the key service thread.
#[derive(Debug)]
pub(crate) enum Msg {
    Register(u64, Weak<PublishedKeys>, KeySourceSpec),
    /// A worker met an unknown kid in the key set of this generation.
    UnknownKid(u64, u64),
    Sync(Sender<()>),
    Stop,
}

/// The handle of the key service thread. Registration happens at configuration time
/// (a mutex-guarded registry, never on the request path).
#[derive(Debug)]
pub struct KeyService {
    tx: Sender<Msg>,
    registry: Mutex<HashMap<KeySourceSpec, Weak<PublishedKeys>>>,
    next_id: AtomicU64,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

static GLOBAL: OnceLock<Option<KeyService>> = OnceLock::new();

impl KeyService {
    /// Start a key service thread with `policy`.
    pub fn start(policy: FetchPolicy) -> std::io::Result<KeyService> {
        let (tx, rx) = unbounded();
        let thread = std::thread::Builder::new()
            .name("tollgate-jwks".into())
            .spawn(move || Worker::new(policy, rx).run())?;
        Ok(KeyService {
            tx,
            registry: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The process's key service (default policy), started on first use; `None` if the
    /// thread could not be started.
    pub fn global() -> Option<&'static KeyService> {
        GLOBAL
            .get_or_init(|| match KeyService::start(FetchPolicy::default()) {
                Ok(s) => Some(s),
                Err(e) => {
                    log!("jwt: cannot start the key service thread: {e}");
                    None
                }
            })
            .as_ref()
    }

    /// The published keys of `spec`, shared with every other user of the same source;
    /// a new source is fetched by the thread right away.
    pub fn register(&self, spec: KeySourceSpec) -> Arc<PublishedKeys> {
        let mut reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(keys) = reg.get(&spec).and_then(Weak::upgrade) {
            return keys;
        }
        reg.retain(|_, w| w.strong_count() > 0);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let keys = PublishedKeys::empty(Some((self.tx.clone(), id)));
        reg.insert(spec.clone(), Arc::downgrade(&keys));
        let _ = self.tx.send(Msg::Register(id, Arc::downgrade(&keys), spec));
        keys
    }

    /// Wait until the thread has handled every message sent before this call, and the
    /// fetches they made due (tests; startup, to load keys before serving).
    pub fn sync(&self) {
        let (tx, rx) = crossbeam::channel::bounded(1);
        if self.tx.send(Msg::Sync(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

impl Drop for KeyService {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        let handle = self
            .thread
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

/// The key sources of one configuration, registered with the process's key service
/// ([`KeyService::global`]): holding it keeps them fetched and refreshed; dropping it (with
/// every worker's reader) lets the service forget them.
#[derive(Debug, Default)]
pub struct KeySources {
    keys: Vec<(KeySourceSpec, Arc<PublishedKeys>)>,
}

impl KeySources {
    /// Register `specs` (duplicates once) with the process's key service, which starts
    /// fetching the new ones right away. Empty when the service thread cannot run.
    pub fn register(specs: impl IntoIterator<Item = KeySourceSpec>) -> KeySources {
        let mut keys: Vec<(KeySourceSpec, Arc<PublishedKeys>)> = Vec::new();
        let Some(service) = KeyService::global() else {
            return KeySources { keys };
        };
        for spec in specs {
            if keys.iter().all(|(s, _)| *s != spec) {
                let k = service.register(spec.clone());
                keys.push((spec, k));
            }
        }
        KeySources { keys }
    }

    /// The published keys of `spec`, if registered here.
    pub fn get(&self, spec: &KeySourceSpec) -> Option<&Arc<PublishedKeys>> {
        self.keys.iter().find(|(s, _)| s == spec).map(|(_, k)| k)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Wait (polling, off the request path: startup, reload) until every source has keys
    /// or `timeout` passed; true when all are loaded. Sources that failed keep being
    /// retried in the background either way.
    pub fn wait_loaded(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.keys.iter().all(|(_, k)| k.is_loaded()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// One source as the thread tracks it.
struct Source {
    id: u64,
    spec: KeySourceSpec,
    keys: Weak<PublishedKeys>,
    next: Instant,
    failures: u32,
    /// A worker asked for a refresh (unknown kid) that has not run yet.
    kid_asked: bool,
    /// That ask brought the next refresh forward (it counts against the rate limit; an
    /// ask while a refresh was due anyway, such as the first fetch, does not).
    kid_forced: bool,
    last_kid_refresh: Option<Instant>,
}

struct Worker {
    policy: FetchPolicy,
    rx: Receiver<Msg>,
    sources: Vec<Source>,
    system_tls: Option<Arc<ClientConfig>>,
}

impl Worker {
    fn new(policy: FetchPolicy, rx: Receiver<Msg>) -> Self {
        Worker {
            policy,
            rx,
            sources: Vec::new(),
            system_tls: None,
        }
    }

    fn run(mut self) {
        loop {
            let now = Instant::now();
            let wait = self
                .sources
                .iter()
                .map(|s| s.next.saturating_duration_since(now))
                .min()
                .unwrap_or(Duration::from_secs(3600));
            let msg = match self.rx.recv_timeout(wait) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut reply = None;
            match msg {
                Some(Msg::Stop) => return,
                Some(Msg::Register(id, keys, spec)) => self.sources.push(Source {
                    id,
                    spec,
                    keys,
                    next: Instant::now(),
                    failures: 0,
                    kid_asked: false,
                    kid_forced: false,
                    last_kid_refresh: None,
                }),
                Some(Msg::UnknownKid(id, seen)) => {
                    let now = Instant::now();
                    let interval = self.policy.unknown_kid_interval;
                    if let Some(s) = self.sources.iter_mut().find(|s| s.id == id) {
                        let current = s.keys.upgrade();
                        if current.as_ref().is_some_and(|k| k.generation() != seen) {
                            // Keys were published since the worker looked (the first
                            // fetch, say): its next request sees them; no refresh.
                            if let (false, Some(k)) = (s.kid_asked, current) {
                                k.clear_refresh_asked();
                            }
                        } else {
                            let allowed = s.last_kid_refresh.map_or(now, |t| t + interval).max(now);
                            if allowed < s.next {
                                s.next = allowed;
                                s.kid_forced = true;
                            }
                            s.kid_asked = true;
                        }
                    }
                }
                Some(Msg::Sync(tx)) => reply = Some(tx),
                None => {}
            }
            self.refresh_due();
            if let Some(tx) = reply {
                let _ = tx.send(());
            }
        }
    }

    fn refresh_due(&mut self) {
        self.sources.retain(|s| s.keys.strong_count() > 0);
        let now = Instant::now();
        for i in 0..self.sources.len() {
            if self.sources[i].next <= now {
                self.refresh(i);
            }
        }
    }

    fn tls_for(&mut self, spec: &KeySourceSpec) -> Result<Arc<ClientConfig>, FetchError> {
        if let Some(path) = &spec.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| FetchError(format!("CA file {}: {e}", path.display())))?;
            return crate::transport::tls_io::client_config_from_ca_pem(&pem)
                .map_err(|e| FetchError(format!("CA file {}: {e}", path.display())));
        }
        if let Some(c) = &self.system_tls {
            return Ok(Arc::clone(c));
        }
        let c = system_client_config()?;
        self.system_tls = Some(Arc::clone(&c));
        Ok(c)
    }

    /// The JWKS document of `spec` and its max-age.
    fn fetch(&mut self, spec: &KeySourceSpec) -> Result<(Vec<u8>, Option<u64>), FetchError> {
        let url = match &spec.location {
            KeyLocation::JwksFile(path) => {
                let doc = std::fs::read(path)
                    .map_err(|e| FetchError(format!("{}: {e}", path.display())))?;
                return Ok((doc, None));
            }
            KeyLocation::JwksUrl(u) => u.clone(),
            KeyLocation::Discovery { issuer } => {
                let doc_url = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                let client = self.client(spec, &doc_url)?;
                let resp = client.get(&doc_url)?;
                if resp.status != 200 {
                    return Err(FetchError(format!("{doc_url}: status {}", resp.status)));
                }
                let doc: serde_json::Value = serde_json::from_slice(&resp.body)
                    .map_err(|e| FetchError(format!("{doc_url}: not JSON ({e})")))?;
                if doc.get("issuer").and_then(|v| v.as_str()) != Some(issuer.as_str()) {
                    log!("jwt: {doc_url}: the document's \"issuer\" is not {issuer:?}");
                }
                doc.get("jwks_uri")
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| FetchError(format!("{doc_url}: no \"jwks_uri\"")))?
                    .to_owned()
            }
        };
        let client = self.client(spec, &url)?;
        let resp = client.get(&url)?;
        if resp.status != 200 {
            return Err(FetchError(format!("{url}: status {}", resp.status)));
        }
        Ok((resp.body, resp.max_age))
    }

    fn client(&mut self, spec: &KeySourceSpec, url: &str) -> Result<Client, FetchError> {
        let tls = if url.len() >= 8 && url[..8].eq_ignore_ascii_case("https://") {
            Some(self.tls_for(spec)?)
        } else {
            None
        };
        Ok(Client {
            timeout: self.policy.timeout,
            max_body: self.policy.max_body,
            tls,
        })
    }

    fn refresh(&mut self, i: usize) {
        let spec = self.sources[i].spec.clone();
        let result = self.fetch(&spec).and_then(|(doc, max_age)| {
            parse_jwks(&doc)
                .map(|parsed| (parsed, max_age))
                .map_err(|e| FetchError(e.to_string()))
        });
        let now = Instant::now();
        let policy = self.policy.clone();
        let s = &mut self.sources[i];
        let Some(keys) = s.keys.upgrade() else {
            return;
        };
        match result {
            Ok(((set, skipped), max_age)) => {
                s.failures = 0;
                s.next = now
                    + match spec.location {
                        KeyLocation::JwksFile(_) => policy.file_interval,
                        _ => policy.ttl(max_age),
                    };
                let count = set.len();
                if keys.publish(set) {
                    log!("jwt: {}: {count} key(s) loaded", describe(&spec));
                    for why in skipped {
                        log!("jwt: {}: skipped {why}", describe(&spec));
                    }
                }
            }
            Err(e) => {
                s.failures += 1;
                s.next = now + policy.backoff(s.failures);
                let kept = if keys.is_loaded() {
                    "keeping the last keys"
                } else {
                    "no keys yet"
                };
                log!("jwt: {}: {e} ({kept})", describe(&spec));
            }
        }
        if s.kid_forced {
            s.last_kid_refresh = Some(now);
        }
        if s.kid_asked {
            s.kid_asked = false;
            s.kid_forced = false;
            keys.clear_refresh_asked();
        }
    }
}

fn describe(spec: &KeySourceSpec) -> String {
    match &spec.location {
        KeyLocation::Discovery { issuer } => format!("issuer {issuer}"),
        KeyLocation::JwksUrl(u) => u.clone(),
        KeyLocation::JwksFile(p) => p.display().to_string(),
    }
}

/// A client config trusting the system's roots (rustls-native-certs), ring provider.
fn system_client_config() -> Result<Arc<ClientConfig>, FetchError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(FetchError(format!(
            "no system trust roots found ({} errors); configure a CA file",
            found.errors.len()
        )));
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| FetchError(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}
