//! The raw serde file model (YAML or JSON): exactly the keys docs/CONFIG.md lists,
//! `deny_unknown_fields` everywhere, human durations ("29s", "50ms", "2m").
//!
//! This model only describes the *shape* of the file. Everything that needs a reason beyond
//! "wrong type" (ranges, references between objects, route keys, URIs, durations) is checked
//! by `config::validate`, which knows the key path of every value and reports all problems at
//! once. For that reason durations stay text here ([`DurationText`]) and type-specific
//! integration keys are optional (so a key that does not belong to the integration's type can
//! be named precisely).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::snapshot::HttpLimits;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub server: ServerFile,
    #[serde(default)]
    pub limits: LimitsFile,
    /// At least one (checked by validation, so that the error carries a path).
    #[serde(default)]
    pub listeners: Vec<ListenerFile>,
    /// At least one (checked by validation).
    #[serde(default)]
    pub apis: Vec<ApiFile>,
    /// Private upstreams (API Gateway's VPC link to an NLB/ALB), named by integrations.
    #[serde(default)]
    pub target_groups: Vec<TargetGroupFile>,
    /// Custom domain names served by TLS listeners (and matched by Host on any listener).
    #[serde(default)]
    pub custom_domains: Vec<CustomDomainFile>,
    #[serde(default)]
    pub api_keys: Vec<ApiKeyFile>,
    #[serde(default)]
    pub usage_plans: Vec<UsagePlanFile>,
    /// The admin listener (cache flush and statistics); none by default.
    #[serde(default)]
    pub admin: Option<AdminFile>,
    /// IAM principals that sign requests with SigV4 (routes with `authorization_type: AWS_IAM`).
    #[serde(default)]
    pub iam: Option<crate::config::iam::IamFile>,
    /// AWS integrations (Lambda, AWS services): region, credentials, service endpoints.
    #[serde(default)]
    pub aws: Option<crate::config::aws::AwsFile>,
}

/// `admin:` the loopback management endpoint (API Gateway's management API, in part).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminFile {
    pub bind: String,
    /// A file holding the bearer token every admin request must send (relative to the
    /// configuration file); none: no token.
    #[serde(default)]
    pub token_file: Option<String>,
}

/// `server:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerFile {
    /// `None` = one worker per available core.
    pub workers: Option<u64>,
    pub execute_api_suffix: String,
    pub drain_timeout: DurationText,
    /// API Gateway's account-level throttle (10000 rps, burst 5000).
    pub account_throttle: ThrottleFile,
    /// How often per-core token shares are reconciled.
    pub throttle_reconcile_interval: DurationText,
    /// Where quota counters are persisted (relative to the configuration file).
    pub state_file: String,
    /// How often quota counters are written to `state_file` (the most a crash can lose).
    pub state_flush_interval: DurationText,
    /// Where sampled spans are exported (OTLP/HTTP); defaults when absent.
    pub tracing: Option<TracingFile>,
    /// The AWS region tollgate stands in for: in method ARNs (`arn:aws:execute-api:REGION:…`)
    /// that policies match, and the region SigV4 requests must be signed for.
    pub region: String,
    /// The AWS account id in method ARNs and `$context.accountId`.
    pub account_id: String,
}

/// `server.tracing`: the OTLP/HTTP span exporter (see `config::tracing`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingFile {
    pub otlp_endpoint: String,
    pub service_name: String,
    /// Spans queued for the exporter thread; more are dropped and counted.
    pub queue: u64,
    /// Spans per export request, at most.
    pub batch: u64,
    /// How long a span waits for a batch to fill.
    pub flush_interval: DurationText,
    /// Connect/read/write timeout of one export request.
    pub timeout: DurationText,
}

impl Default for TracingFile {
    fn default() -> Self {
        TracingFile {
            otlp_endpoint: crate::observe::trace::export::DEFAULT_ENDPOINT.into(),
            service_name: "tollgate".into(),
            queue: 2048,
            batch: 512,
            flush_interval: DurationText("1s".into()),
            timeout: DurationText("2s".into()),
        }
    }
}

impl Default for ServerFile {
    fn default() -> Self {
        ServerFile {
            workers: None,
            execute_api_suffix: "localhost".to_string(),
            drain_timeout: DurationText::from_duration(Duration::from_secs(10)),
            account_throttle: ThrottleFile {
                rate: 10000.0,
                burst: 5000.0,
            },
            throttle_reconcile_interval: DurationText("20ms".into()),
            state_file: "tollgate.state".into(),
            state_flush_interval: DurationText("2s".into()),
            tracing: None,
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
        }
    }
}

/// A token bucket: `rate` requests per second, `burst` requests at once.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleFile {
    pub rate: f64,
    pub burst: f64,
}

/// An API key (identifies a caller for usage plans; keys do not authenticate).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyFile {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub value: String,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// A usage plan: throttling and quota per API key on the API stages it covers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsagePlanFile {
    pub name: String,
    #[serde(default)]
    pub throttle: Option<ThrottleFile>,
    /// Route key (`GET /hello`) -> throttle, per API key.
    #[serde(default)]
    pub method_throttle: Vec<MethodThrottleFile>,
    #[serde(default)]
    pub quota: Option<QuotaFile>,
    pub api_stages: Vec<ApiStageFile>,
    /// API key ids.
    #[serde(default)]
    pub keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodThrottleFile {
    /// The route key, e.g. `GET /orders/{id}`.
    pub route: String,
    pub rate: f64,
    pub burst: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaFile {
    pub limit: i64,
    /// `DAY`, `WEEK`, `MONTH` (API Gateway), or `HOUR`, `MINUTE` (tollgate extensions).
    pub period: String,
    #[serde(default)]
    pub offset: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiStageFile {
    pub api: String,
    pub stage: String,
}

/// `limits:` — every default comes from [`HttpLimits::default`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsFile {
    pub max_head_bytes: u64,
    pub max_headers: u64,
    pub max_body_bytes: u64,
    pub header_read_timeout: DurationText,
    pub keepalive_timeout: DurationText,
    pub body_read_timeout: DurationText,
}

impl Default for LimitsFile {
    fn default() -> Self {
        let d = HttpLimits::default();
        LimitsFile {
            max_head_bytes: d.max_head_bytes as u64,
            max_headers: d.max_headers as u64,
            max_body_bytes: d.max_body_bytes,
            header_read_timeout: DurationText::from_duration(d.header_read_timeout),
            keepalive_timeout: DurationText::from_duration(d.keepalive_timeout),
            body_read_timeout: DurationText::from_duration(d.body_read_timeout),
        }
    }
}

/// `listeners[i]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerFile {
    pub name: String,
    /// A socket address, parsed by validation (`127.0.0.1:8080`, `[::1]:8080`).
    pub bind: String,
    #[serde(default)]
    pub default_api: Option<String>,
    /// Makes this an HTTPS listener serving the `custom_domains`.
    #[serde(default)]
    pub tls: Option<ListenerTlsFile>,
    /// Drop request headers whose names contain `_` (nginx's `underscores_in_headers off`).
    #[serde(default)]
    pub drop_underscore_headers: bool,
    /// Serve HTTP/2 with prior knowledge (h2c) on this plain listener, besides HTTP/1.1.
    #[serde(default)]
    pub h2c: bool,
    /// Peers (CIDRs) whose `X-Forwarded-For` names the client: from such a peer, the
    /// client address (`$context.identity.sourceIp`, resource policies' `aws:SourceIp`) is
    /// the right-most address of that header that is not itself trusted.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// `listeners[i].tls`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTlsFile {
    /// Domain whose certificate answers a handshake without SNI or with an unknown name;
    /// without it such handshakes fail.
    #[serde(default)]
    pub default_domain: Option<String>,
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout: DurationText,
}

fn default_handshake_timeout() -> DurationText {
    DurationText("10s".into())
}

/// A custom domain name (API Gateway's, with its certificate, security policy, mutual TLS
/// truststore and base-path mappings).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDomainFile {
    /// `api.example.com` or a wildcard `*.example.com`.
    pub name: String,
    /// PEM certificate chain (leaf first), relative to the configuration file.
    pub certificate: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
    /// `TLS_1_2` (default) or `TLS_1_3`.
    #[serde(default)]
    pub security_policy: Option<String>,
    #[serde(default)]
    pub mtls: Option<MtlsFile>,
    #[serde(default)]
    pub base_path_mappings: Vec<BasePathMappingFile>,
    /// Offer HTTP/2 (ALPN `h2`) on this domain's handshakes (default on).
    #[serde(default = "default_true")]
    pub http2: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsFile {
    /// PEM bundle of the CA certificates client certificates must chain to.
    pub truststore: String,
    /// `required` (default) or `optional`.
    #[serde(default)]
    pub mode: Option<String>,
    /// PEM file of certificate revocation lists.
    #[serde(default)]
    pub crl: Option<String>,
    /// Header names under which the verified client certificate's fields are sent to
    /// integrations (each optional).
    #[serde(default)]
    pub forward_headers: ForwardHeadersFile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardHeadersFile {
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub validity: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasePathMappingFile {
    /// `orders`, `orders/v2`, or `(none)` / empty for the domain's root.
    #[serde(default)]
    pub base_path: String,
    pub api: String,
    pub stage: String,
}

/// `apis[i].type`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum ApiTypeFile {
    #[default]
    #[serde(rename = "REST")]
    Rest,
    #[serde(rename = "HTTP")]
    Http,
}

/// `apis[i]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFile {
    pub id: String,
    /// Defaults to `id`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "type", default)]
    pub api_type: ApiTypeFile,
    /// The API's working routes, deployed as the deployment [`CURRENT_DEPLOYMENT`].
    #[serde(default)]
    pub routes: Option<Vec<RouteFile>>,
    /// Explicit immutable deployments.
    #[serde(default)]
    pub deployments: Vec<DeploymentFile>,
    /// At least one (checked by validation).
    #[serde(default)]
    pub stages: Vec<StageFile>,
    /// API Gateway's `disableExecuteApiEndpoint`: reachable only through custom domains.
    #[serde(default)]
    pub disable_execute_api_endpoint: bool,
    /// The API's authorizers (JWT, COGNITO_USER_POOLS, TOKEN, REQUEST), named by routes.
    #[serde(default)]
    pub authorizers: Vec<crate::config::authorizer::AuthorizerFile>,
    /// A REST API's resource policy (an IAM policy document, as JSON or YAML).
    #[serde(default)]
    pub resource_policy: Option<serde_json::Value>,
    /// `HEADER` (default: `x-api-key`) or `AUTHORIZER` (a Lambda authorizer's
    /// `usageIdentifierKey`).
    #[serde(default)]
    pub api_key_source: Option<String>,
    /// API Gateway's `binaryMediaTypes`: content types (`image/png`, `image/*`, `*/*`)
    /// carried base64-encoded to and from Lambda and converted by `content_handling`.
    #[serde(default)]
    pub binary_media_types: Vec<String>,
    /// CORS, configured as on HTTP APIs (API Gateway's `corsConfiguration`).
    #[serde(default)]
    pub cors: Option<crate::config::cors::CorsFile>,
    /// Customised gateway responses, by response type (`DEFAULT_4XX`, `THROTTLED`, ...).
    #[serde(default)]
    pub gateway_responses: Option<crate::config::gateway_response::GatewayResponsesFile>,
}

/// The deployment id an API's top-level `routes` are deployed as.
pub const CURRENT_DEPLOYMENT: &str = "current";

/// `apis[i].deployments[j]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentFile {
    pub id: String,
    #[serde(default)]
    pub routes: Vec<RouteFile>,
}

/// `apis[i].stages[j]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageFile {
    pub name: String,
    #[serde(default = "default_stage_deployment")]
    pub deployment: String,
    #[serde(default)]
    pub variables: StringMap,
    /// Stage default throttle (all routes).
    #[serde(default)]
    pub throttle: Option<ThrottleFile>,
    /// Per-route throttles of this stage.
    #[serde(default)]
    pub method_throttle: Vec<MethodThrottleFile>,
    /// The stage's response cache (API Gateway's cache cluster).
    #[serde(default)]
    pub cache: Option<StageCacheFile>,
    /// A canary release: a share of the stage's traffic served by another deployment.
    #[serde(default)]
    pub canary: Option<CanaryFile>,
    /// Active tracing (API Gateway's `tracingEnabled`): sample requests and export spans.
    #[serde(default)]
    pub tracing_enabled: bool,
    /// Share of requests without a caller's decision that are sampled (0.0 to 1.0).
    #[serde(default)]
    pub tracing_sample_rate: Option<f64>,
    /// Per-route metrics (API Gateway's detailed CloudWatch metrics).
    #[serde(default)]
    pub detailed_metrics: bool,
    /// Execution logs (API Gateway's stage logging level and data tracing).
    #[serde(default)]
    pub execution_log: Option<ExecutionLogFile>,
    /// The stage's access log (API Gateway's accessLogSettings).
    #[serde(default)]
    pub access_log: Option<AccessLogFile>,
    /// The certificate the stage presents to its HTTP integrations' TLS upstreams (API
    /// Gateway's stage client certificate, for backend mutual TLS).
    #[serde(default)]
    pub client_certificate: Option<crate::config::client_certificate::ClientCertificateFile>,
}

/// `apis[i].stages[j].execution_log` (API Gateway's `loggingLevel` and `dataTraceEnabled`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionLogFile {
    /// `OFF` (default), `ERROR` or `INFO`.
    #[serde(default)]
    pub level: Option<String>,
    /// Log request and response bodies (first 1 KiB) and headers.
    #[serde(default)]
    pub data_trace: bool,
    /// Header names whose values are replaced (default: authorization, x-api-key, cookie,
    /// set-cookie).
    #[serde(default)]
    pub redact_headers: Option<Vec<String>>,
    /// `stderr` (default: the process log), `stdout`, or a file path.
    #[serde(default)]
    pub destination: Option<String>,
}

/// `apis[i].stages[j].access_log`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogFile {
    /// A file path (appended to) or `stdout`.
    pub destination: String,
    /// A preset (`json`, `clf`, `csv`, `xml`) or a format string of `$context.*` variables.
    pub format: String,
}

/// `apis[i].stages[j].cache`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageCacheFile {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Capacity in GB (API Gateway's cache cluster sizes are 0.5 to 237; any size > 0).
    #[serde(default = "default_cluster_size")]
    pub cluster_size: f64,
    #[serde(default = "default_cache_ttl")]
    pub ttl: DurationText,
    /// `lru` or `s3fifo`.
    #[serde(default)]
    pub eviction: Option<String>,
    #[serde(default = "yes")]
    pub require_authorization_for_cache_control: bool,
    /// `FAIL_WITH_403`, `SUCCEED_WITH_RESPONSE_HEADER` (default), `SUCCEED_WITHOUT_RESPONSE_HEADER`.
    #[serde(default)]
    pub unauthorized_cache_control_header_strategy: Option<String>,
    /// API key ids whose callers may send `Cache-Control: max-age=0`.
    #[serde(default)]
    pub invalidation_api_keys: Vec<String>,
    #[serde(default)]
    pub status_header: Option<CacheStatusHeaderFile>,
    #[serde(default = "yes")]
    pub request_coalescing: bool,
    #[serde(default = "default_coalescing_timeout")]
    pub coalescing_timeout: DurationText,
    /// Store responses carrying `Set-Cookie` (API Gateway does; off by default, so one
    /// caller's session cookie is never replayed to another).
    #[serde(default)]
    pub cache_responses_with_set_cookie: bool,
    #[serde(default)]
    pub method_settings: Vec<MethodCacheFile>,
}

fn default_cluster_size() -> f64 {
    0.5
}

fn default_cache_ttl() -> DurationText {
    DurationText("300s".into())
}

fn default_coalescing_timeout() -> DurationText {
    DurationText("5s".into())
}

/// `cache.status_header`: say `hit` or `miss` in a response header.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheStatusHeaderFile {
    pub name: String,
    #[serde(default = "default_hit")]
    pub hit: String,
    #[serde(default = "default_miss")]
    pub miss: String,
}

fn default_hit() -> String {
    "Hit".into()
}

fn default_miss() -> String {
    "Miss".into()
}

/// `cache.method_settings[k]`: one route's caching, overriding the stage's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodCacheFile {
    pub route: String,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub ttl: Option<DurationText>,
    /// Request methods cached on this route (default: GET).
    #[serde(default)]
    pub methods: Option<Vec<String>>,
}

/// `apis[i].stages[j].canary` (API Gateway's canarySettings).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryFile {
    pub deployment: String,
    #[serde(default)]
    pub percent_traffic: f64,
    #[serde(default)]
    pub stage_variable_overrides: StringMap,
    #[serde(default)]
    pub use_stage_cache: bool,
}

fn default_stage_deployment() -> String {
    CURRENT_DEPLOYMENT.to_string()
}

/// A route: `route` key plus its integration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    /// `"METHOD /path"` or `"$default"`.
    pub route: String,
    pub integration: IntegrationFile,
    /// Requests must carry a valid, enabled API key (`x-api-key`).
    #[serde(default)]
    pub api_key_required: bool,
    /// What besides method and route makes a cache entry distinct:
    /// `method.request.path.NAME`, `method.request.querystring.NAME`, `method.request.header.NAME`.
    #[serde(default)]
    pub cache_key_parameters: Vec<String>,
    /// `NONE` (default), `AWS_IAM`, `CUSTOM` (a TOKEN or REQUEST authorizer), `JWT` (HTTP
    /// APIs) or `COGNITO_USER_POOLS` (REST APIs).
    #[serde(default)]
    pub authorization_type: Option<String>,
    /// The authorizer's name in the API's `authorizers` (CUSTOM, JWT, COGNITO_USER_POOLS).
    #[serde(default)]
    pub authorizer: Option<String>,
    /// Scopes of which the token must hold one (JWT and COGNITO_USER_POOLS).
    #[serde(default)]
    pub authorization_scopes: Vec<String>,
}

/// `integration.type`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum IntegrationType {
    #[serde(rename = "MOCK")]
    Mock,
    #[serde(rename = "HTTP_PROXY")]
    HttpProxy,
    /// Lambda proxy integration.
    #[serde(rename = "AWS_PROXY")]
    AwsProxy,
    /// Lambda custom (non-proxy) integration, or an AWS service action or path.
    #[serde(rename = "AWS")]
    Aws,
}

impl IntegrationType {
    pub fn as_str(&self) -> &'static str {
        match self {
            IntegrationType::Mock => "MOCK",
            IntegrationType::HttpProxy => "HTTP_PROXY",
            IntegrationType::AwsProxy => "AWS_PROXY",
            IntegrationType::Aws => "AWS",
        }
    }
}

/// An integration. One flat struct rather than a tagged enum so that every key keeps its own
/// path in error messages; validation rejects keys that do not belong to `type` and applies
/// the type's defaults (MOCK: status 200, body ""; HTTP_PROXY: timeout 29s).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationFile {
    #[serde(rename = "type")]
    pub kind: IntegrationType,
    // MOCK
    /// Wide integer so that out-of-range values get validation's message.
    #[serde(default)]
    pub status: Option<i64>,
    #[serde(default)]
    pub headers: Option<StringMap>,
    #[serde(default)]
    pub body: Option<String>,
    // HTTP_PROXY
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub timeout: Option<DurationText>,
    /// `INTERNET` (default: connect to the URI's host) or `VPC_LINK` (connect to
    /// `target_group`'s targets; the URI's host is then only the Host header and TLS name).
    #[serde(default)]
    pub connection_type: Option<String>,
    #[serde(default)]
    pub target_group: Option<String>,
    // AWS_PROXY and AWS
    /// AWS_PROXY: `1.0` or `2.0` (HTTP APIs; REST APIs send 1.0).
    #[serde(default)]
    pub payload_format_version: Option<String>,
    /// `CONVERT_TO_BINARY` or `CONVERT_TO_TEXT` (API Gateway's contentHandling).
    #[serde(default)]
    pub content_handling: Option<String>,
    /// The service endpoint for this integration (`http://127.0.0.1:3001` for SAM local),
    /// overriding `aws.endpoints`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Credentials signing this integration's calls, overriding `aws.credentials`.
    #[serde(default)]
    pub credentials: Option<crate::config::aws::CredentialsFile>,
    /// AWS: `integration.request.{header,querystring,path}.NAME` -> a source
    /// (`method.request.*`, `stageVariables.*`, `context.*` or a `'static'` value).
    #[serde(default)]
    pub request_parameters: Option<StringMap>,
}

/// A target group: NLB/ALB-style private upstreams reached through a VPC link.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupFile {
    pub name: String,
    /// `round_robin` (default), `least_outstanding_requests` or `flow_hash`.
    #[serde(default)]
    pub balancing: Option<String>,
    pub targets: Vec<TargetFile>,
    #[serde(default)]
    pub pool: PoolFile,
    #[serde(default)]
    pub tls: Option<TargetTlsFile>,
    /// `none` (default) or `v2`.
    #[serde(default)]
    pub proxy_protocol: Option<String>,
    #[serde(default)]
    pub health_check: Option<HealthCheckFile>,
    #[serde(default)]
    pub passive: PassiveFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// `ip:port` or `name:port` (names are resolved once, when the file is loaded).
    pub address: String,
    #[serde(default = "one")]
    pub weight: i64,
}

fn one() -> i64 {
    1
}

/// Per-worker, per-target connection pool settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolFile {
    pub max_idle: i64,
    pub idle_timeout: DurationText,
    /// 0 = unlimited.
    pub max_connections: i64,
}

impl Default for PoolFile {
    fn default() -> Self {
        PoolFile {
            max_idle: 64,
            idle_timeout: DurationText("30s".into()),
            max_connections: 0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetTlsFile {
    /// PEM bundle of the CA certificates that sign the targets' certificates.
    pub ca_file: String,
    /// Name to send as SNI and to verify; default: the integration URI's host.
    #[serde(default)]
    pub server_name: Option<String>,
}

/// Active HTTP health checks (ALB-style).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckFile {
    pub path: String,
    pub interval: DurationText,
    pub timeout: DurationText,
    pub healthy_threshold: i64,
    pub unhealthy_threshold: i64,
    /// Healthy status codes: `200`, `200-399`.
    pub matcher: String,
    /// Host header of the checks; default the target address.
    pub host: Option<String>,
}

impl Default for HealthCheckFile {
    fn default() -> Self {
        HealthCheckFile {
            path: "/".into(),
            interval: DurationText("30s".into()),
            timeout: DurationText("5s".into()),
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: "200-399".into(),
            host: None,
        }
    }
}

/// Passive ejection: consecutive connect failures or 5xx answers take a target out of
/// rotation on that worker for a back-off that doubles up to `max_ejection`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassiveFile {
    /// 0 disables passive ejection.
    pub consecutive_failures: i64,
    pub ejection: DurationText,
    pub max_ejection: DurationText,
}

impl Default for PassiveFile {
    fn default() -> Self {
        PassiveFile {
            consecutive_failures: 5,
            ejection: DurationText("10s".into()),
            max_ejection: DurationText("300s".into()),
        }
    }
}

/// Default HTTP_PROXY integration timeout (API Gateway's 29 s).
pub const DEFAULT_INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);
/// Shortest HTTP_PROXY integration timeout (API Gateway's 50 ms).
pub const MIN_INTEGRATION_TIMEOUT: Duration = Duration::from_millis(50);

/// A string-to-string map that keeps the file's order (header order matters to some
/// clients; error messages follow the file). Duplicate keys are kept and left to validation.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StringMap(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for StringMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of strings to strings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<StringMap, E> {
                Ok(StringMap::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StringMap, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(StringMap(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration as written (`"10s"`); parsed by validation with [`crate::time::parse_duration`]
/// (the crate's one duration parser, shared with the load generator) so that a
/// bad value is reported with its key path. Bare numbers are accepted here and then refused
/// by validation with a "missing unit" reason (clearer than a type error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationText(pub String);

impl DurationText {
    /// The shortest exact text for `d` (`"10s"`, `"50ms"`).
    pub fn from_duration(d: Duration) -> DurationText {
        let ms = d.as_millis();
        if ms.is_multiple_of(1000) {
            DurationText(format!("{}s", ms / 1000))
        } else {
            DurationText(format!("{ms}ms"))
        }
    }

    pub fn parse(&self) -> Result<Duration, String> {
        crate::time::parse_duration(&self.0)
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"10s\", \"50ms\", \"2m\" or \"1h\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_from_yaml() {
        let text = |yaml: &str| -> DurationText {
            serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
        };
        assert_eq!(text("29s").parse(), Ok(Duration::from_secs(29)));
        assert_eq!(text("'50ms'").parse(), Ok(Duration::from_millis(50)));
        // Numbers deserialize (a type error would not name the key) and are refused by
        // parse, naming the value.
        let bare = text("60").parse().expect_err("bare number");
        assert!(
            bare.contains("`60`") && bare.contains("missing unit"),
            "{bare}"
        );
        let frac = text("1.5").parse().expect_err("fraction");
        assert!(frac.contains("`1.5`"), "{frac}");
        let neg = text("-3").parse().expect_err("negative");
        assert!(neg.contains("`-3`"), "{neg}");
        let spaced = text("10 seconds").parse().expect_err("spaces");
        assert!(spaced.contains("`10 seconds`"), "{spaced}");
    }

    #[test]
    fn duration_text_roundtrip() {
        for d in [
            Duration::from_secs(10),
            Duration::from_millis(50),
            Duration::from_millis(1500),
            Duration::ZERO,
            Duration::from_secs(3600),
        ] {
            assert_eq!(DurationText::from_duration(d).parse(), Ok(d));
        }
    }

    #[test]
    fn string_map_keeps_order() {
        let m: StringMap = serde_yaml_ng::from_str("b: '1'\na: '2'\nc: x").expect("parses");
        assert_eq!(
            m.0,
            vec![
                ("b".to_string(), "1".to_string()),
                ("a".to_string(), "2".to_string()),
                ("c".to_string(), "x".to_string())
            ]
        );
    }
}
