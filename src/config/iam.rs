//! `iam:`: the principals that sign requests with SigV4 for routes with
//! `authorization_type: AWS_IAM`, their secrets and identity policies. (Skeleton of issue
//! 14: the SigV4 helper owns and completes it.)

use std::fmt;

use ahash::AHashMap;
use serde::Deserialize;

use super::validate::Errors;

/// `iam:`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamFile {
    #[serde(default)]
    pub principals: Vec<IamPrincipalFile>,
}

/// `iam.principals[i]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamPrincipalFile {
    pub access_key_id: String,
    /// A file holding the secret access key (relative to the configuration file).
    #[serde(default)]
    pub secret_access_key_file: Option<String>,
    /// An environment variable holding the secret access key.
    #[serde(default)]
    pub secret_access_key_env: Option<String>,
    /// The principal's ARN, e.g. `arn:aws:iam::123456789012:user/alice`.
    pub arn: String,
    /// Identity policies (IAM policy documents) that allow or deny `execute-api:Invoke`.
    #[serde(default)]
    pub policies: Vec<serde_json::Value>,
}

/// A secret that never appears in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

#[derive(Debug)]
pub struct IamPrincipal {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub arn: String,
    pub policies: Vec<serde_json::Value>,
}

/// The validated `iam:` section: principals by access key id.
#[derive(Debug, Default)]
pub struct Iam {
    pub principals: AHashMap<String, IamPrincipal>,
}

pub(super) fn build(e: &mut Errors, f: &IamFile, path: &str) -> Iam {
    let mut principals = AHashMap::new();
    for (i, p) in f.principals.iter().enumerate() {
        let ppath = format!("{path}.principals[{i}]");
        if p.access_key_id.is_empty() {
            e.push(format!("{ppath}.access_key_id"), "must not be empty");
            continue;
        }
        let secret = match (&p.secret_access_key_file, &p.secret_access_key_env) {
            (Some(file), None) => {
                let full = e.base_dir().join(file);
                match std::fs::read_to_string(&full) {
                    Ok(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
                    Ok(_) => {
                        e.push(
                            format!("{ppath}.secret_access_key_file"),
                            format!("{} is empty", full.display()),
                        );
                        None
                    }
                    Err(err) => {
                        e.push(
                            format!("{ppath}.secret_access_key_file"),
                            format!("cannot read {}: {err}", full.display()),
                        );
                        None
                    }
                }
            }
            (None, Some(var)) => match std::env::var(var) {
                Ok(s) if !s.is_empty() => Some(s),
                _ => {
                    e.push(
                        format!("{ppath}.secret_access_key_env"),
                        format!("the environment variable `{var}` is not set"),
                    );
                    None
                }
            },
            _ => {
                e.push(
                    ppath.clone(),
                    "give exactly one of `secret_access_key_file` and `secret_access_key_env`",
                );
                None
            }
        };
        let Some(secret) = secret else { continue };
        if principals.contains_key(&p.access_key_id) {
            e.push(
                format!("{ppath}.access_key_id"),
                format!("duplicate access key id `{}`", p.access_key_id),
            );
            continue;
        }
        principals.insert(
            p.access_key_id.clone(),
            IamPrincipal {
                access_key_id: p.access_key_id.clone(),
                secret_access_key: Secret(secret),
                arn: p.arn.clone(),
                policies: p.policies.clone(),
            },
        );
    }
    Iam { principals }
}
