//! The validated, immutable configuration snapshot every worker reads.
//!
//! Built once by `config::validate` from the file model, shared as `Arc<Snapshot>`
//! (read-only, so it needs no lock), replaced whole on reload.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ahash::AHashMap;

use crate::routing::resource::{RouteMethod, Router};
use crate::upstream::uri::UriTemplate;

#[derive(Debug)]
pub struct Snapshot {
    /// The file this snapshot was read from (for messages).
    pub source: PathBuf,
    pub server: ServerSettings,
    pub limits: HttpLimits,
    pub listeners: Vec<ListenerSpec>,
    /// Every API; `ApiRef` indexes this.
    pub apis: Vec<Arc<Api>>,
    pub apis_by_id: AHashMap<String, usize>,
    /// Private upstreams; `HttpProxyIntegration::target_group` indexes this.
    pub target_groups: Vec<Arc<TargetGroup>>,
    /// Custom domain names; `ListenerTls::default_domain` indexes this (TLS connections
    /// keep their handshake's domain itself: positions change across reloads).
    pub domains: Vec<Arc<CustomDomain>>,
    /// `domains` by name, for `domain_for_host` (built from `domains` with
    /// [`DomainIndex::new`]).
    pub domain_index: DomainIndex,
    /// Every rate limit (token bucket) in the file; `RateLimitId`s index this. Index 0 is
    /// the account-level throttle.
    pub rate_limits: Vec<RateLimit>,
    pub api_keys: Vec<ApiKey>,
    /// API key value -> index into `api_keys`.
    pub api_keys_by_value: AHashMap<String, usize>,
    /// (stage id, API key index) -> the usage plan that covers this key on this stage.
    pub plan_bindings: AHashMap<(usize, usize), PlanBinding>,
    /// Quota counters (usage plan, key); `PlanBinding::quota` indexes this.
    pub quotas: Vec<super::quota::QuotaEntry>,
    /// How many stages there are (`Stage::id` is below this): the runtime's services keep
    /// one cache slot per stage (`services`).
    pub stage_count: usize,
    /// The admin listener's address.
    pub admin: Option<SocketAddr>,
    /// Every header name any custom domain's `mtls.forward_headers` sets, lowercase, each
    /// once. A client's own header under one of these names (or an underscore/case variant)
    /// is removed from every request on every listener before anything reads it.
    pub forwarded_cert_headers: Vec<String>,
    /// The bearer token the admin listener requires (`admin.token_file`); none: no token.
    pub admin_token: Option<super::admin::AdminToken>,
    /// IAM principals for `AWS_IAM` routes (`iam:`); empty when absent.
    pub iam: super::iam::Iam,
    /// AWS integrations' region, credentials and service endpoints (`aws:`).
    pub aws: super::aws::AwsSettings,
}

/// Index into `Snapshot::rate_limits`.
pub type RateLimitId = usize;

/// The account-level throttle's id.
pub const ACCOUNT_LIMIT: RateLimitId = 0;

#[derive(Debug, Clone)]
pub struct RateLimit {
    /// What the limit is, for logs (`stage demo/prod`, `usage plan free, key k1`).
    pub name: String,
    pub rate: f64,
    pub burst: f64,
}

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub enabled: bool,
}

/// A usage plan as it applies to one API key on one stage.
#[derive(Debug, Clone)]
pub struct PlanBinding {
    pub plan: String,
    /// The plan's throttle for this key.
    pub throttle: Option<RateLimitId>,
    /// Route key -> the plan's per-method throttle for this key.
    pub method_throttles: AHashMap<String, RateLimitId>,
    /// Index into `Snapshot::quotas`.
    pub quota: Option<usize>,
}

impl Snapshot {
    /// The custom domain serving `host` (no port, any case): an exact name first, then a
    /// wildcard `*.suffix` covering exactly one more label. Two hash lookups, whatever the
    /// number of domains, and no allocation.
    pub fn domain_for_host(&self, host: &str) -> Option<usize> {
        self.domain_index.lookup(host)
    }

    pub fn api(&self, id: &str) -> Option<&Arc<Api>> {
        self.apis_by_id.get(id).and_then(|&i| self.apis.get(i))
    }

    /// The stage numbered `id` (`Stage::id`), found by a walk over the APIs: for the
    /// rare paths (a request refused after its stage was known but before it was routed).
    pub fn stage_by_id(&self, id: usize) -> Option<&Arc<Stage>> {
        self.apis
            .iter()
            .flat_map(|api| api.stages.values())
            .find(|stage| stage.id == id)
    }
}

/// Eviction policy of a stage cache's store (`cache::store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePolicy {
    /// Least recently used.
    Lru,
    /// S3-FIFO: small, main and ghost FIFO queues (SOSP'23).
    S3Fifo,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Worker threads; `None` = one per available core. `--workers` overrides.
    pub workers: Option<usize>,
    /// Hosts `{api-id}.execute-api.{suffix}` select an API. Default `localhost`.
    pub execute_api_suffix: String,
    /// How long in-flight requests may run after SIGTERM/SIGINT. Default 10 s.
    pub drain_timeout: Duration,
    /// How often per-core token shares are reconciled. Default 20 ms.
    pub reconcile_interval: Duration,
    /// Where quota counters are persisted.
    pub state_file: PathBuf,
    /// How often they are written. Default 2 s.
    pub state_flush_interval: Duration,
    /// The span exporter (`server.tracing`, defaults when absent).
    pub tracing: crate::observe::trace::export::ExporterConfig,
    /// The AWS region in method ARNs and SigV4 credential scopes. Default `us-east-1`.
    pub region: String,
    /// The AWS account id in method ARNs. Default `123456789012`.
    pub account_id: String,
}

/// Client-side HTTP limits: defined with the wire code that enforces them.
pub use crate::http::limits::HttpLimits;

#[derive(Debug, Clone)]
pub struct ListenerSpec {
    pub name: String,
    pub bind: SocketAddr,
    /// Index into `Snapshot::apis` of the API served for hosts that are not `*.execute-api.*`.
    pub default_api: Option<usize>,
    /// Set for HTTPS listeners.
    pub tls: Option<ListenerTls>,
    /// Drop every request header whose name contains `_` (nginx's default). Names that read
    /// as a forwarded certificate header once `_` is read as `-` are dropped regardless.
    pub drop_underscore_headers: bool,
    /// Plain listeners: a connection opening with the HTTP/2 preface is served as h2c.
    pub h2c: bool,
    /// Peers whose `X-Forwarded-For` is believed (see [`ListenerSpec::client_ip`]).
    pub trusted_proxies: Vec<crate::auth::policy::Cidr>,
}

impl ListenerSpec {
    /// The client's address for a request from `peer` carrying `forwarded_for` (the
    /// `X-Forwarded-For` values, in order): `peer` itself unless it is a trusted proxy; then
    /// the right-most address of the header that is not a trusted proxy (the left-most one
    /// when all are), or `peer` when the header holds no address.
    pub fn client_ip<'a>(
        &self,
        peer: std::net::IpAddr,
        forwarded_for: impl Iterator<Item = &'a [u8]>,
    ) -> std::net::IpAddr {
        let trusted = |ip: std::net::IpAddr| self.trusted_proxies.iter().any(|c| c.contains(ip));
        if self.trusted_proxies.is_empty() || !trusted(peer) {
            return peer;
        }
        // Only requests from a trusted proxy get here: the header lines, last first.
        let lines: Vec<&[u8]> = forwarded_for.collect();
        let mut client = peer;
        for value in lines.into_iter().rev() {
            for item in value.rsplit(|&b| b == b',') {
                let Some(ip) = std::str::from_utf8(item)
                    .ok()
                    .and_then(|t| t.trim().parse::<std::net::IpAddr>().ok())
                else {
                    // Not an address (a port, `unknown`): nothing further left is believed.
                    return client;
                };
                client = ip;
                if !trusted(ip) {
                    return ip;
                }
            }
        }
        client
    }
}

#[derive(Debug, Clone)]
pub struct ListenerTls {
    /// Domain (index into `Snapshot::domains`) for handshakes without SNI or with an unknown
    /// name; `None` = such handshakes fail.
    pub default_domain: Option<usize>,
    pub handshake_timeout: Duration,
}

/// Custom domains by lowercase name: exact names, and wildcards `*.suffix` by suffix (the
/// first domain of a name wins, as a scan of the list in order would find).
#[derive(Debug, Default)]
pub struct DomainIndex {
    exact: AHashMap<Box<str>, usize>,
    wildcard: AHashMap<Box<str>, usize>,
}

/// Longer hosts match no domain (names are at most 253 bytes, `*.` wildcards 255).
const MAX_HOST: usize = 256;

impl DomainIndex {
    pub fn new(domains: &[Arc<CustomDomain>]) -> Self {
        Self::from_names(
            domains
                .iter()
                .map(|d| (d.name.as_str(), d.wildcard_suffix.as_deref())),
        )
    }

    /// From (name, wildcard suffix) pairs in the order of `Snapshot::domains`.
    fn from_names<'a>(names: impl Iterator<Item = (&'a str, Option<&'a str>)>) -> Self {
        let mut index = DomainIndex::default();
        for (i, (name, suffix)) in names.enumerate() {
            let (map, key) = match suffix {
                Some(suffix) => (&mut index.wildcard, suffix),
                None => (&mut index.exact, name),
            };
            map.entry(key.to_ascii_lowercase().into_boxed_str())
                .or_insert(i);
        }
        index
    }

    /// See [`Snapshot::domain_for_host`].
    pub fn lookup(&self, host: &str) -> Option<usize> {
        if self.exact.is_empty() && self.wildcard.is_empty() {
            return None;
        }
        let mut buf = [0u8; MAX_HOST];
        if let Some(&i) = lowercase(host, &mut buf).and_then(|h| self.exact.get(h)) {
            return Some(i);
        }
        let (label, rest) = host.split_once('.')?;
        if label.is_empty() {
            return None;
        }
        self.wildcard.get(lowercase(rest, &mut buf)?).copied()
    }
}

/// `s` in ASCII lowercase, in `buf`; `None` when longer than `buf` (no domain is).
fn lowercase<'b>(s: &str, buf: &'b mut [u8; MAX_HOST]) -> Option<&'b str> {
    let lower = buf.get_mut(..s.len())?;
    lower.copy_from_slice(s.as_bytes());
    lower.make_ascii_lowercase();
    // ASCII lowercasing keeps UTF-8 valid, so this never fails.
    std::str::from_utf8(lower).ok()
}

/// A custom domain name: certificate, TLS policy, optional mutual TLS, base-path mappings.
pub struct CustomDomain {
    /// As configured, e.g. `api.example.com` or `*.partners.example.com`.
    pub name: String,
    /// For a wildcard domain, the part after `*.` (`partners.example.com`).
    pub wildcard_suffix: Option<String>,
    /// The rustls configuration for handshakes on this domain (certificate, versions,
    /// client verifier, ALPN), without session resumption: handshakes use the copy the
    /// runtime's services make with the ticketer and session store attached
    /// (`services::Services::tls_configs`).
    pub server_config: Arc<rustls::ServerConfig>,
    /// The mutual-TLS client verifier inside `server_config` (current truststore and CRL),
    /// kept to re-verify the stored chain of a resumed session.
    pub client_verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
    pub mtls: Option<MtlsSettings>,
    /// With mutual TLS, a fingerprint of its trust (mode, truststore, CRLs): a connection
    /// verified under another one is re-verified before its next request
    /// (`tls_accept::recheck`). `None` without mutual TLS.
    pub trust: Option<[u8; 32]>,
    /// Longest base path first; `""` is the `(none)` mapping.
    pub mappings: Vec<BasePathMapping>,
    /// The certificate's notAfter (Unix seconds), for logs.
    pub not_after: i64,
}

impl std::fmt::Debug for CustomDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomDomain")
            .field("name", &self.name)
            .field("mtls", &self.mtls)
            .field("mappings", &self.mappings)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct MtlsSettings {
    /// `required`: no valid client certificate, no handshake. `optional`: anonymous clients
    /// are let through (a presented certificate must still be valid).
    pub required: bool,
    /// Header names for the verified client certificate's fields sent to integrations.
    pub forward_subject: Option<String>,
    pub forward_issuer: Option<String>,
    pub forward_serial: Option<String>,
    pub forward_validity: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BasePathMapping {
    /// Without leading or trailing slashes; `""` for `(none)`.
    pub base_path: String,
    pub api: usize,
    pub stage: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiType {
    /// REST API: reached at `/{stage}/{resource path}`; no match -> 403 Missing Authentication Token.
    Rest,
    /// HTTP API: the `$default` stage is served without a prefix; no match -> 404 Not Found.
    Http,
}

#[derive(Debug)]
pub struct Api {
    pub id: String,
    /// This API's position in `Snapshot::apis`.
    pub index: usize,
    pub name: String,
    pub api_type: ApiType,
    /// Stages by name (for HTTP APIs possibly including `$default`).
    pub stages: AHashMap<String, Arc<Stage>>,
    /// `disableExecuteApiEndpoint`: only custom domains reach this API.
    pub disable_execute_api_endpoint: bool,
    /// The API's authorizers; `RouteAuthorization::authorizer` indexes this.
    pub authorizers: Vec<Arc<crate::config::authorizer::Authorizer>>,
    /// A REST API's resource policy.
    pub resource_policy: Option<crate::config::resource_policy::ResourcePolicy>,
    /// Where usage plans read the API key.
    pub api_key_source: crate::config::authorizer::ApiKeySource,
    /// `binaryMediaTypes`.
    pub binary_media_types: super::binary_media::BinaryMediaTypes,
    /// CORS (`None`: the gateway adds no CORS headers and answers no preflight itself).
    pub cors: Option<super::cors::Cors>,
    /// Customised gateway responses.
    pub gateway_responses: super::gateway_response::GatewayResponses,
}

impl Api {
    /// HTTP APIs' `$default` stage, if defined.
    pub fn default_stage(&self) -> Option<&Arc<Stage>> {
        self.stages.get(DEFAULT_STAGE)
    }
}

/// The name of HTTP APIs' prefix-less stage.
pub const DEFAULT_STAGE: &str = "$default";

#[derive(Debug)]
pub struct Stage {
    pub name: String,
    /// The deployment this stage serves (shared by every stage pointing at it).
    pub deployment: Arc<Deployment>,
    /// Stage variables, substituted as `${stageVariables.name}`.
    pub variables: AHashMap<String, String>,
    /// Unique over the snapshot (keys usage-plan bindings).
    pub id: usize,
    /// The stage's default throttle.
    pub throttle: Option<RateLimitId>,
    /// Route key -> this stage's per-method throttle.
    pub method_throttles: AHashMap<String, RateLimitId>,
    /// The stage's cache settings; `None` when caching is off.
    pub cache: Option<CacheSettings>,
    /// A canary release on this stage.
    pub canary: Option<Canary>,
    /// The stage's access log.
    pub access_log: Option<crate::config::access_log::AccessLog>,
    /// Per-route metrics (API Gateway's detailed CloudWatch metrics, `metricsEnabled`).
    pub detailed_metrics: bool,
    /// Execution logs; `None` when the level is OFF.
    pub execution_log: Option<super::execution_log::ExecutionLogSettings>,
    /// Active tracing and its sampling rate.
    pub tracing: StageTracing,
    /// The certificate presented to TLS upstreams of HTTP integrations.
    pub client_certificate: Option<super::client_certificate::ClientCertificate>,
}

/// A stage's tracing (API Gateway's `tracingEnabled`; the rate of X-Ray's default rule).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageTracing {
    pub enabled: bool,
    /// 0.0 to 1.0: the share of requests without a caller's decision that are sampled.
    pub sample_rate: f64,
}

impl Default for StageTracing {
    fn default() -> Self {
        StageTracing {
            enabled: false,
            sample_rate: 0.05,
        }
    }
}

/// A stage's canary (API Gateway's canarySettings): `percent` of the requests are served by
/// `deployment`, with the stage variables overridden.
#[derive(Debug)]
pub struct Canary {
    pub deployment: Arc<Deployment>,
    /// 0.0 to 100.0.
    pub percent: f64,
    /// The stage's variables with the canary's overrides applied.
    pub variables: AHashMap<String, String>,
    /// Canary requests use the stage's cache (else they bypass it).
    pub use_stage_cache: bool,
}

/// A stage's cache settings (API Gateway's cache cluster and method settings).
#[derive(Debug)]
pub struct CacheSettings {
    pub capacity_bytes: u64,
    pub policy: CachePolicy,
    /// The stage's TTL for routes without their own (default 300 s, 0 to 3600 s).
    pub ttl: Duration,
    pub require_authorization: bool,
    pub unauthorized: UnauthorizedStrategy,
    /// API key indexes allowed to send `Cache-Control: max-age=0`.
    pub invalidation_keys: Vec<usize>,
    pub status_header: Option<CacheStatusHeader>,
    pub coalescing: bool,
    pub coalescing_timeout: Duration,
    /// Whether responses carrying `Set-Cookie` are stored (`cache_responses_with_set_cookie`).
    pub set_cookie: bool,
    /// Route key -> that route's caching (routes not listed: GET cached with `ttl`).
    pub routes: AHashMap<String, RouteCaching>,
}

impl CacheSettings {
    /// The TTL for a request with `method` on route `route_key`, or `None` when such a
    /// request is not cached (route disabled, method not cached, TTL zero).
    pub fn ttl_for(&self, route_key: &str, method: crate::http::head::Method) -> Option<Duration> {
        let ttl = match self.routes.get(route_key) {
            Some(r) if r.enabled && r.methods.contains(&method) => r.ttl,
            Some(_) => return None,
            None if method == crate::http::head::Method::Get => self.ttl,
            None => return None,
        };
        (!ttl.is_zero()).then_some(ttl)
    }
}

/// One route's caching on a stage.
#[derive(Debug, Clone)]
pub struct RouteCaching {
    pub enabled: bool,
    pub ttl: Duration,
    pub methods: Vec<crate::http::head::Method>,
}

/// `unauthorizedCacheControlHeaderStrategy`: what a `Cache-Control: max-age=0` from a caller
/// who may not invalidate the cache gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnauthorizedStrategy {
    FailWith403,
    SucceedWithResponseHeader,
    SucceedWithoutResponseHeader,
}

/// The response header that says whether the cache answered.
#[derive(Debug)]
pub struct CacheStatusHeader {
    pub name: String,
    pub hit: String,
    pub miss: String,
}

/// An immutable snapshot of an API's routes.
#[derive(Debug)]
pub struct Deployment {
    pub id: String,
    pub router: Router<Arc<Route>>,
    /// Every route key, for validating references to routes.
    pub route_keys: Vec<String>,
    /// The same keys as a set, so that checking references stays linear.
    pub route_key_set: ahash::AHashSet<String>,
    /// Every route, in file order (for the admin API's `/config`).
    pub routes: Vec<Arc<Route>>,
}

impl Deployment {
    /// Whether `key` (e.g. `GET /orders/{id}`) is one of this deployment's route keys.
    pub fn has_route_key(&self, key: &str) -> bool {
        self.route_key_set.contains(key)
    }
}

#[derive(Debug)]
pub struct Route {
    /// The route key as written, e.g. `GET /orders/{id}` or `$default`.
    pub key: String,
    pub method: RouteMethod,
    /// Path parameter names in the order they appear in the template (greedy one last,
    /// without its `+`). `PathParams` spans are in the same order.
    pub param_names: Vec<String>,
    pub integration: Integration,
    /// Callers must send a valid, enabled API key (`x-api-key`), else 403 Forbidden.
    pub api_key_required: bool,
    /// The request parameters that make cache entries distinct (besides method and route).
    pub cache_key: Vec<CacheKeyParam>,
    /// Who may call: `authorization_type`, its authorizer and scopes.
    pub authorization: crate::config::authorizer::RouteAuthorization,
}

/// One of a route's `cache_key_parameters`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheKeyParam {
    /// `method.request.path.NAME`: index into `Route::param_names`.
    Path(usize),
    /// `method.request.querystring.NAME`
    Query(String),
    /// `method.request.header.NAME` (lowercase)
    Header(String),
}

#[derive(Debug)]
pub enum Integration {
    Mock(MockIntegration),
    HttpProxy(HttpProxyIntegration),
    /// `AWS_PROXY`, or `AWS` with a Lambda function.
    Lambda(Box<super::lambda_integration::LambdaIntegration>),
    /// `AWS` with another service's action or path.
    AwsService(Box<super::aws_integration::AwsServiceIntegration>),
}

#[derive(Debug)]
pub struct MockIntegration {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub struct HttpProxyIntegration {
    /// `http://host:port/path/{param}/${stageVariables.x}` etc.
    pub uri: UriTemplate,
    /// Method sent upstream; `None` = the request's own method.
    pub method: Option<crate::http::head::Method>,
    /// Default 29 s; at least 50 ms.
    pub timeout: Duration,
    /// `connection_type: VPC_LINK`: index into `Snapshot::target_groups`. The connection goes
    /// to the group's targets; the URI's authority is the Host header (and TLS name).
    pub target_group: Option<usize>,
    /// What the URI fixes when its authority has no stage variables (the common case), so
    /// that a request renders only its path and query; `None`: rendered per request.
    pub upstream: Option<StaticUpstream>,
}

/// The upstream of an integration URI whose authority has no placeholders, computed at
/// config load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticUpstream {
    /// As written (an IPv6 address keeps its brackets): a target group's TLS name, the name
    /// resolved (through the DNS cache) when `addr` is `None`.
    pub host: String,
    pub port: u16,
    /// The end of the upstream request line and its Host line: ` HTTP/1.1\r\nhost:
    /// HOST[:PORT]\r\n` (the port when not 80), as the request head writes them.
    pub head_host: Box<[u8]>,
    /// The address when the host is an IP literal: no parse or lookup per request.
    pub addr: Option<SocketAddr>,
}

impl StaticUpstream {
    /// `None` when the URI's authority holds a stage variable.
    pub fn of(uri: &UriTemplate) -> Option<StaticUpstream> {
        let a = uri.authority()?;
        let mut head_host = b" HTTP/1.1\r\nhost: ".to_vec();
        head_host.extend_from_slice(a.host.as_bytes());
        if a.port != 80 {
            head_host.push(b':');
            head_host.extend_from_slice(a.port.to_string().as_bytes());
        }
        head_host.extend_from_slice(b"\r\n");
        let bare = a
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&a.host);
        Some(StaticUpstream {
            host: a.host.clone(),
            port: a.port,
            head_host: head_host.into_boxed_slice(),
            addr: bare
                .parse::<std::net::IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, a.port)),
        })
    }
}

/// A target group (API Gateway VPC link -> NLB/ALB, as configuration).
#[derive(Debug)]
pub struct TargetGroup {
    pub name: String,
    pub policy: crate::upstream::balance::Policy,
    pub targets: Vec<Target>,
    pub pool: PoolSettings,
    /// TLS to the targets.
    pub tls: Option<TargetTls>,
    /// Send a PROXY protocol v2 header first on each new connection.
    pub proxy_protocol_v2: bool,
    pub health_check: Option<crate::upstream::health::HealthCheckSpec>,
    pub passive: PassiveSettings,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub weight: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Idle connections kept per worker per target.
    pub max_idle: usize,
    pub idle_timeout: Duration,
    /// Open connections per worker per target (0 = unlimited).
    pub max_connections: usize,
}

#[derive(Clone)]
pub struct TargetTls {
    pub config: Arc<rustls::ClientConfig>,
    /// SNI and verification name; `None` = the integration URI's host.
    pub server_name: Option<rustls::pki_types::ServerName<'static>>,
}

impl std::fmt::Debug for TargetTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PassiveSettings {
    /// Consecutive failures that eject a target (0 = never).
    pub consecutive_failures: u32,
    pub ejection: Duration,
    pub max_ejection: Duration,
}

#[cfg(test)]
mod tests {
    use super::DomainIndex;

    #[test]
    fn domain_index_finds_exact_names_then_one_label_wildcards() {
        let names = [
            ("api.example.com", None),
            ("*.partners.example.com", Some("partners.example.com")),
            ("acme.partners.example.com", None),
            ("api.example.com", None),
        ];
        let index = DomainIndex::from_names(names.iter().map(|(n, s)| (*n, *s)));
        let at = |h: &str| index.lookup(h);
        assert_eq!(at("api.example.com"), Some(0), "the first of a name wins");
        assert_eq!(at("API.Example.COM"), Some(0));
        assert_eq!(
            at("acme.partners.example.com"),
            Some(2),
            "exact before wildcard"
        );
        assert_eq!(at("Other.PARTNERS.example.com"), Some(1));
        assert_eq!(at("partners.example.com"), None);
        assert_eq!(at("a.b.partners.example.com"), None, "one label only");
        assert_eq!(at(".partners.example.com"), None);
        assert_eq!(at("example.com"), None);
        assert_eq!(at(""), None);
        // A host longer than any name can still be one long label under a wildcard.
        let long = format!("{}.partners.example.com", "x".repeat(1000));
        assert_eq!(at(&long), Some(1));
        assert_eq!(at(&"y".repeat(1000)), None);
        assert_eq!(at("ü.partners.example.com"), Some(1));
        assert_eq!(DomainIndex::default().lookup("api.example.com"), None);
    }

    #[test]
    fn domain_index_scales_to_the_cap() {
        let names: Vec<String> = (0..crate::config::custom_domain::MAX_CUSTOM_DOMAINS)
            .map(|i| format!("d{i}.example.com"))
            .collect();
        let index = DomainIndex::from_names(names.iter().map(|n| (n.as_str(), None)));
        for (i, n) in names.iter().enumerate() {
            assert_eq!(index.lookup(n), Some(i));
        }
        assert_eq!(index.lookup("nope.example.com"), None);
    }

    /// A snapshot is pure data: built from a YAML string in a plain test (no monoio
    /// runtime, no thread), with a cached stage and a usage plan, it holds their settings
    /// and nothing live (the caches and quota counters are `services`'), so two
    /// builds of one file are equal in everything they say.
    #[test]
    fn snapshot_builds_from_yaml_without_a_runtime() {
        const YAML: &str = "
listeners: [{name: public, bind: '127.0.0.1:0'}]
apis:
  - id: shop
    routes:
      - {route: GET /items, integration: {type: MOCK}}
    stages:
      - {name: prod, cache: {cluster_size: 0.5, eviction: lru}}
      - {name: dev}
api_keys:
  - {id: k1, name: k1, value: k1-0123456789abcdef}
usage_plans:
  - name: gold
    throttle: {rate: 5, burst: 10}
    quota: {limit: 100, period: WEEK, offset: 1}
    api_stages: [{api: shop, stage: prod}]
    keys: [k1]
";
        let build = || {
            crate::config::validate::from_str(std::path::Path::new("pure.yaml"), YAML)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let (a, b) = (build(), build());
        for s in [&a, &b] {
            let api = s.api("shop").expect("api shop");
            let prod = &api.stages["prod"];
            let cache = prod.cache.as_ref().expect("prod caches");
            assert_eq!(cache.capacity_bytes, 1 << 29);
            assert_eq!(cache.policy, super::CachePolicy::Lru);
            assert!(api.stages["dev"].cache.is_none());
            assert!(api.stages.values().all(|st| st.id < s.stage_count));
            assert_eq!(s.stage_count, 2);
            assert_eq!(s.quotas.len(), 1);
            assert_eq!(s.quotas[0].plan, "gold");
            assert_eq!(s.quotas[0].spec.limit, 100);
            let binding = &s.plan_bindings[&(prod.id, 0)];
            assert_eq!(binding.quota, Some(0));
            assert!(binding.throttle.is_some());
        }
        assert_eq!(a.quotas, b.quotas);
        assert_eq!(a.rate_limits.len(), b.rate_limits.len());
    }
}
