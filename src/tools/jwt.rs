//! `tollgate jwt`: a development token issuer for JWT and Cognito authorizers.
//!
//! - `tollgate jwt sign --aud demo-app --sub alice --scope "orders/read"` prints a token
//!   signed with the development key (examples/jwt/dev-rsa.pem, kid `tollgate-dev-rsa-1`,
//!   issuer `http://127.0.0.1:9090`, the demo upstream's default address), or with
//!   `--key FILE` (PKCS#8 PEM) and `--alg`;
//! - `tollgate jwt jwks` prints the public JWKS of that key.
//!
//! The demo upstream serves the development issuer ([`demo_document`]): its discovery
//! document and JWKS, so `jwt: {issuer: 'http://127.0.0.1:9090', ...}` works out of the
//! box. Never trust the development key outside a development machine.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use tollgate::auth::jwt::mint::{jwks, SigningKey};
use tollgate::auth::jwt::Algorithm;

/// The development key pair (public: for examples and tests only).
pub const DEV_KEY_PEM: &[u8] = include_bytes!("../../examples/jwt/dev-rsa.pem");
/// Its `kid`.
pub const DEV_KID: &str = "tollgate-dev-rsa-1";
/// The issuer the demo upstream plays by default.
pub const DEV_ISSUER: &str = "http://127.0.0.1:9090";

#[derive(Subcommand)]
pub enum JwtCommand {
    /// print a signed token (JWS compact form)
    Sign(SignArgs),
    /// print the public JWKS of the signing key
    Jwks(KeyArgs),
}

#[derive(Args)]
pub struct KeyArgs {
    /// the private key (PKCS#8 PEM) [default: the development key, RS256]
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// the JWS algorithm: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA
    #[arg(long, default_value = "RS256")]
    alg: String,
    /// the key id (`kid`) [default: tollgate-dev-rsa-1 with the development key, else `dev`]
    #[arg(long)]
    kid: Option<String>,
}

#[derive(Args)]
pub struct SignArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// the issuer (`iss`)
    #[arg(long, default_value = DEV_ISSUER)]
    iss: String,
    /// an audience (`aud`); repeat for several
    #[arg(long)]
    aud: Vec<String>,
    /// `client_id` (Cognito access tokens carry it instead of `aud`)
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// the subject (`sub`)
    #[arg(long, default_value = "dev-user")]
    sub: String,
    /// scopes (`scope`, space-separated)
    #[arg(long)]
    scope: Option<String>,
    /// lifetime: `exp` is now plus this (e.g. 1h, 90s; 0s: already expired)
    #[arg(long, default_value = "1h", value_parser = duration)]
    ttl: Duration,
    /// `nbf` this far in the future (e.g. 5m)
    #[arg(long, value_parser = duration)]
    not_before: Option<Duration>,
    /// an extra claim NAME=VALUE (a JSON value, else a string); repeat for several
    #[arg(long, value_name = "NAME=VALUE")]
    claim: Vec<String>,
}

fn duration(v: &str) -> Result<Duration, String> {
    tollgate::time::parse_duration(v)
}

fn load_key(k: &KeyArgs) -> Result<SigningKey, String> {
    let alg = Algorithm::from_name(&k.alg).ok_or_else(|| format!("unknown algorithm {}", k.alg))?;
    match &k.key {
        None => {
            if !matches!(
                alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) {
                return Err(format!("the development key is RSA; {alg} needs --key"));
            }
            SigningKey::from_pem(alg, k.kid.as_deref().unwrap_or(DEV_KID), DEV_KEY_PEM)
        }
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            SigningKey::from_pem(alg, k.kid.as_deref().unwrap_or("dev"), &pem)
                .map_err(|e| format!("{}: {e}", path.display()))
        }
    }
}

/// The claims `sign` puts in a token issued at unix time `now`.
fn claims(a: &SignArgs, now: u64) -> Result<Value, String> {
    let mut c = Map::new();
    c.insert("iss".into(), json!(a.iss));
    c.insert("sub".into(), json!(a.sub));
    match a.aud.len() {
        0 => {}
        1 => {
            c.insert("aud".into(), json!(a.aud[0]));
        }
        _ => {
            c.insert("aud".into(), json!(a.aud));
        }
    }
    if let Some(id) = &a.client_id {
        c.insert("client_id".into(), json!(id));
    }
    if let Some(s) = &a.scope {
        c.insert("scope".into(), json!(s));
    }
    c.insert("iat".into(), json!(now));
    c.insert("exp".into(), json!(now + a.ttl.as_secs()));
    if let Some(nbf) = a.not_before {
        c.insert("nbf".into(), json!(now + nbf.as_secs()));
    }
    for extra in &a.claim {
        let (name, value) = extra
            .split_once('=')
            .ok_or_else(|| format!("--claim {extra}: expected NAME=VALUE"))?;
        let v = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
        c.insert(name.to_owned(), v);
    }
    Ok(Value::Object(c))
}

pub fn main(cmd: JwtCommand) -> ExitCode {
    let out = match cmd {
        JwtCommand::Jwks(k) => load_key(&k).map(|key| jwks(&[&key])),
        JwtCommand::Sign(a) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            load_key(&a.key).and_then(|key| key.sign(&claims(&a, now)?))
        }
    };
    match out {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tollgate jwt: {e}");
            ExitCode::from(1)
        }
    }
}

/// The demo upstream's development issuer: for `path` `/.well-known/openid-configuration`
/// the discovery document of the issuer `http://{host}` (the request's Host), for
/// `/.well-known/jwks.json` the development key's JWKS; `None` for other paths.
pub fn demo_document(path: &str, host: Option<&str>) -> Option<Vec<u8>> {
    match path {
        "/.well-known/jwks.json" => {
            let key = SigningKey::from_pem(Algorithm::RS256, DEV_KID, DEV_KEY_PEM).ok()?;
            Some(jwks(&[&key]).into_bytes())
        }
        "/.well-known/openid-configuration" => {
            let issuer = format!("http://{}", host.unwrap_or("127.0.0.1:9090"));
            let doc = json!({
                "issuer": issuer,
                "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
                "id_token_signing_alg_values_supported": ["RS256"],
            });
            Some(doc.to_string().into_bytes())
        }
        _ => None,
    }
}
