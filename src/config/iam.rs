//! `iam:`: the principals that sign requests with SigV4 for routes with
//! `authorization_type: AWS_IAM`, their secrets and their identity policies.
//!
//! Loaded once per configuration: secrets (and session tokens) are read from a file or an
//! environment variable, never from the configuration text itself, and are never shown
//! (`Debug` prints `Secret(redacted)`, errors name the file or the variable, not the
//! value). Identity policies are compiled with `auth::policy` here, so a bad document is
//! refused at load with its key path (`iam.principals[0].policies[1]: Statement[0]: ...`)
//! and a request only evaluates compiled statements.

use std::fmt;

use ahash::AHashMap;
use serde::Deserialize;

use super::validate::Errors;
use crate::auth::policy::{Caller, ParseOptions, Policy};

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
    /// Temporary credentials: a file holding the session token the principal's requests
    /// must carry (`X-Amz-Security-Token`).
    #[serde(default)]
    pub session_token_file: Option<String>,
    /// Temporary credentials: an environment variable holding the session token.
    #[serde(default)]
    pub session_token_env: Option<String>,
    /// The principal's ARN, e.g. `arn:aws:iam::123456789012:user/alice`.
    pub arn: String,
    /// `$context.identity.caller` / `identity.user`: IAM's unique id of the principal
    /// (`AIDA...` for a user, `AROA...:session` for an assumed role). Default: the last
    /// part of the ARN (`alice`).
    #[serde(default)]
    pub user_id: Option<String>,
    /// Identity policies (IAM policy documents, as YAML/JSON objects or JSON text) that
    /// allow or deny `execute-api:Invoke`.
    #[serde(default)]
    pub policies: Vec<serde_json::Value>,
}

/// A secret that never appears in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// One principal, validated: what the SigV4 verifier and the identity-policy evaluation
/// need, and the `$context.identity.*` values of its requests.
#[derive(Debug)]
pub struct IamPrincipal {
    /// `$context.identity.accessKey`
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// Temporary credentials' session token: requests must carry exactly this one.
    pub session_token: Option<Secret>,
    /// `$context.identity.userArn`; `aws:PrincipalArn` in policies.
    pub arn: String,
    /// `$context.identity.accountId`: the account in the ARN.
    pub account_id: String,
    /// `$context.identity.caller` / `identity.user`.
    pub user_id: String,
    /// Compiled identity policies.
    pub policies: Vec<Policy>,
    /// The `$context.identity` values of its requests, shared with each request's context
    /// (no copy per request).
    pub identity: std::sync::Arc<PrincipalIdentity>,
}

/// A SigV4-signed request's `$context.identity.*` values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalIdentity {
    /// `identity.accessKey`
    pub access_key: String,
    /// `identity.userArn`
    pub user_arn: String,
    /// `identity.accountId`
    pub account_id: String,
    /// `identity.caller` / `identity.user`.
    pub caller: String,
}

impl IamPrincipal {
    /// The principal as a policy caller.
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            arn: &self.arn,
            account: &self.account_id,
        }
    }
}

/// The validated `iam:` section.
#[derive(Debug, Default)]
pub struct Iam {
    /// Every principal, in file order (`$context` refers to one by its index).
    pub principals: Vec<IamPrincipal>,
    /// Access key id -> index in `principals`.
    pub by_access_key: AHashMap<String, usize>,
}

impl Iam {
    /// The principal holding `access_key_id`, and its index.
    pub fn principal(&self, access_key_id: &str) -> Option<(usize, &IamPrincipal)> {
        let i = *self.by_access_key.get(access_key_id)?;
        self.principals.get(i).map(|p| (i, p))
    }
}

/// Read a secret from exactly one of a file and an environment variable (`required`: one
/// must be given). Errors name the key, the file or the variable; never the value.
fn read_secret(
    e: &mut Errors,
    ppath: &str,
    (file_key, file): (&str, Option<&String>),
    (env_key, env): (&str, Option<&String>),
    required: bool,
) -> Result<Option<Secret>, ()> {
    match (file, env) {
        (Some(file), None) => {
            let full = e.base_dir().join(file);
            match std::fs::read_to_string(&full) {
                Ok(s) if !s.trim().is_empty() => Ok(Some(Secret(s.trim().to_string()))),
                Ok(_) => {
                    e.push(
                        format!("{ppath}.{file_key}"),
                        format!("{} is empty", full.display()),
                    );
                    Err(())
                }
                Err(err) => {
                    e.push(
                        format!("{ppath}.{file_key}"),
                        format!("cannot read {}: {err}", full.display()),
                    );
                    Err(())
                }
            }
        }
        (None, Some(var)) => match std::env::var(var) {
            Ok(s) if !s.trim().is_empty() => Ok(Some(Secret(s.trim().to_string()))),
            Ok(_) => {
                e.push(
                    format!("{ppath}.{env_key}"),
                    format!("the environment variable `{var}` is empty"),
                );
                Err(())
            }
            Err(_) => {
                e.push(
                    format!("{ppath}.{env_key}"),
                    format!("the environment variable `{var}` is not set"),
                );
                Err(())
            }
        },
        (None, None) if !required => Ok(None),
        _ => {
            e.push(
                ppath.to_owned(),
                format!("give exactly one of `{file_key}` and `{env_key}`"),
            );
            Err(())
        }
    }
}

/// Whether `s` is a well-formed AWS access key id: 16 to 128 characters, letters and digits.
fn valid_access_key_id(s: &str) -> bool {
    (16..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The account of an IAM or STS principal ARN (`arn:PARTITION:iam::ACCOUNT:...` or
/// `arn:PARTITION:sts::ACCOUNT:assumed-role/...`), and its last part (the default user id).
fn principal_arn(arn: &str) -> Result<(&str, &str), &'static str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(""), Some(_), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err("not an IAM principal ARN such as arn:aws:iam::123456789012:user/alice");
    };
    if !partition.starts_with("aws") || !matches!(service, "iam" | "sts") {
        return Err("not an IAM principal ARN such as arn:aws:iam::123456789012:user/alice");
    }
    let Some(caller) = Caller::from_arn(arn) else {
        return Err("the ARN's account must be 12 digits");
    };
    let last = resource.rsplit(['/', ':']).next().unwrap_or(resource);
    if resource.is_empty() || last.is_empty() {
        return Err("the ARN names no principal");
    }
    Ok((caller.account, last))
}

pub(super) fn build(e: &mut Errors, f: &IamFile, path: &str) -> Iam {
    let mut iam = Iam::default();
    for (i, p) in f.principals.iter().enumerate() {
        let ppath = format!("{path}.principals[{i}]");
        let mut ok = true;
        if !valid_access_key_id(&p.access_key_id) {
            e.push(
                format!("{ppath}.access_key_id"),
                "must be 16 to 128 letters and digits (an AWS access key id, e.g. AKIAIOSFODNN7EXAMPLE)",
            );
            ok = false;
        } else if iam.by_access_key.contains_key(&p.access_key_id) {
            e.push(
                format!("{ppath}.access_key_id"),
                format!("duplicate access key id `{}`", p.access_key_id),
            );
            ok = false;
        }
        let secret = read_secret(
            e,
            &ppath,
            ("secret_access_key_file", p.secret_access_key_file.as_ref()),
            ("secret_access_key_env", p.secret_access_key_env.as_ref()),
            true,
        );
        let token = read_secret(
            e,
            &ppath,
            ("session_token_file", p.session_token_file.as_ref()),
            ("session_token_env", p.session_token_env.as_ref()),
            false,
        );
        let (account_id, last) = match principal_arn(&p.arn) {
            Ok(x) => x,
            Err(why) => {
                e.push(format!("{ppath}.arn"), why);
                ok = false;
                ("", "")
            }
        };
        let user_id = match &p.user_id {
            Some(id) if id.is_empty() || id.bytes().any(|b| b.is_ascii_control()) => {
                e.push(
                    format!("{ppath}.user_id"),
                    "must be non-empty text without control characters",
                );
                ok = false;
                String::new()
            }
            Some(id) => id.clone(),
            None => last.to_owned(),
        };
        let mut policies = Vec::with_capacity(p.policies.len());
        for (j, doc) in p.policies.iter().enumerate() {
            // A document is YAML/JSON in the file, or a string holding JSON text.
            let compiled = match doc {
                serde_json::Value::String(text) => {
                    Policy::parse(text.as_bytes(), &ParseOptions::IDENTITY)
                }
                other => Policy::from_value(other, &ParseOptions::IDENTITY),
            };
            match compiled {
                Ok(policy) => policies.push(policy),
                Err(err) => {
                    e.push(format!("{ppath}.policies[{j}]"), err.to_string());
                    ok = false;
                }
            }
        }
        let (Ok(Some(secret)), Ok(session_token)) = (secret, token) else {
            continue;
        };
        if !ok {
            continue;
        }
        iam.by_access_key
            .insert(p.access_key_id.clone(), iam.principals.len());
        let identity = std::sync::Arc::new(PrincipalIdentity {
            access_key: p.access_key_id.clone(),
            user_arn: p.arn.clone(),
            account_id: account_id.to_owned(),
            caller: user_id.clone(),
        });
        iam.principals.push(IamPrincipal {
            identity,
            access_key_id: p.access_key_id.clone(),
            secret_access_key: secret,
            session_token,
            arn: p.arn.clone(),
            account_id: account_id.to_owned(),
            user_id,
            policies,
        });
    }
    iam
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::auth::policy::{Decision, RequestFacts};
    use crate::config::validate::{from_str, ConfigErrors};
    use crate::config::Snapshot;

    /// A secret file in a fresh directory, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new(tag: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!(
                "tollgate-iam-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
        fn file(&self, name: &str, text: &str) -> String {
            let p = self.0.join(name);
            std::fs::write(&p, text).unwrap();
            p.display().to_string()
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn config(principals: &str) -> String {
        format!(
            "listeners: [{{name: l, bind: 127.0.0.1:0}}]
apis:
  - id: demo
    routes:
      - route: GET /x
        integration: {{type: MOCK}}
    stages: [{{name: prod}}]
iam:
  principals:
{principals}
"
        )
    }

    fn ok(text: &str) -> Snapshot {
        from_str(Path::new("t.yaml"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[track_caller]
    fn refused(text: &str, path: &str, fragment: &str) -> String {
        match from_str(Path::new("t.yaml"), text) {
            Ok(_) => panic!("validated; expected an error at {path}"),
            Err(ConfigErrors(list)) => {
                let all = ConfigErrors(list.clone()).to_string();
                assert!(
                    list.iter()
                        .any(|e| e.path == path && e.reason.contains(fragment)),
                    "no error at `{path}` containing `{fragment}`; got:\n{all}"
                );
                all
            }
        }
    }

    const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn a_principal_with_a_secret_file_a_token_and_policies() {
        let d = Dir::new("ok");
        let secret = d.file("secret", &format!("{SECRET}\n"));
        let token = d.file("token", "FwoGZXIvYXdzEXAMPLETOKEN\n");
        let s = ok(&config(&format!(
            "    - access_key_id: {AKID}
      secret_access_key_file: {secret}
      session_token_file: {token}
      arn: arn:aws:iam::123456789012:user/team/alice
      policies:
        - Version: '2012-10-17'
          Statement:
            - Effect: Allow
              Action: execute-api:Invoke
              Resource: arn:aws:execute-api:us-east-1:123456789012:demo/prod/GET/*
        - '{{\"Statement\": {{\"Effect\": \"Deny\", \"Action\": \"execute-api:*\", \"Resource\": \"arn:aws:execute-api:*:*:*/*/DELETE/*\"}}}}'
"
        )));
        let (i, p) = s.iam.principal(AKID).expect("the principal");
        assert_eq!(i, 0);
        assert_eq!(p.secret_access_key.expose(), SECRET);
        assert_eq!(
            p.session_token.as_ref().map(|t| t.expose()),
            Some("FwoGZXIvYXdzEXAMPLETOKEN")
        );
        assert_eq!(p.account_id, "123456789012");
        assert_eq!(p.user_id, "alice");
        assert_eq!(p.policies.len(), 2);
        assert!(s.iam.principal("AKIAOTHEROTHEROTHER1").is_none());

        let facts = |resource| RequestFacts {
            action: "execute-api:Invoke",
            resource,
            caller: Some(p.caller()),
            source_ip: "127.0.0.1".parse().unwrap(),
            source_vpce: None,
        };
        let decide = |r| crate::auth::policy::evaluate(&p.policies, &facts(r));
        assert_eq!(
            decide("arn:aws:execute-api:us-east-1:123456789012:demo/prod/GET/pets"),
            Decision::Allow
        );
        assert_eq!(
            decide("arn:aws:execute-api:us-east-1:123456789012:demo/prod/POST/pets"),
            Decision::NoMatch
        );
        // Policies given as JSON text are documents too.
        assert_eq!(
            decide("arn:aws:execute-api:us-east-1:123456789012:demo/prod/DELETE/pets"),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output_or_errors() {
        let d = Dir::new("debug");
        let secret = d.file("secret", SECRET);
        let token = d.file("token", "TOKEN-VALUE-123");
        let s = ok(&config(&format!(
            "    - {{access_key_id: {AKID}, secret_access_key_file: {secret}, session_token_file: {token}, arn: 'arn:aws:iam::123456789012:user/alice'}}"
        )));
        let debug = format!("{:?}", s.iam);
        assert!(debug.contains(AKID), "{debug}");
        assert!(
            !debug.contains(SECRET) && !debug.contains("TOKEN-VALUE"),
            "{debug}"
        );
        assert!(debug.contains("Secret(redacted)"));
        // A bad principal next to a good secret: the error names files, not values.
        let errors = refused(
            &config(&format!(
                "    - {{access_key_id: {AKID}, secret_access_key_file: {secret}, arn: 'arn:aws:iam::12345:user/alice'}}"
            )),
            "iam.principals[0].arn",
            "12 digits",
        );
        assert!(!errors.contains(SECRET), "{errors}");
    }

    #[test]
    fn user_id_defaults_to_the_arn_last_part_and_may_be_given() {
        let d = Dir::new("uid");
        let secret = d.file("secret", SECRET);
        let s = ok(&config(&format!(
            "    - {{access_key_id: {AKID}, secret_access_key_file: {secret}, arn: 'arn:aws:sts::111122223333:assumed-role/reader/session-1'}}
    - {{access_key_id: AKIAI44QH8DHBEXAMPLE, secret_access_key_file: {secret}, arn: 'arn:aws:iam::123456789012:user/bob', user_id: AIDAJQABLZS4A3QDU576Q}}"
        )));
        assert_eq!(s.iam.principals[0].user_id, "session-1");
        assert_eq!(s.iam.principals[0].account_id, "111122223333");
        assert_eq!(s.iam.principals[1].user_id, "AIDAJQABLZS4A3QDU576Q");
        assert_eq!(
            s.iam.principal("AKIAI44QH8DHBEXAMPLE").map(|(i, _)| i),
            Some(1)
        );
    }

    #[test]
    fn a_bad_policy_is_refused_with_its_key_path() {
        let d = Dir::new("policy");
        let secret = d.file("secret", SECRET);
        let p = |policy: &str| {
            config(&format!(
                "    - access_key_id: {AKID}
      secret_access_key_file: {secret}
      arn: arn:aws:iam::123456789012:user/alice
      policies:
        - {{Statement: [{{Effect: Allow, Action: execute-api:Invoke, Resource: '*'}}]}}
        - {policy}
"
            ))
        };
        refused(
            &p("{Statement: [{Effect: Maybe, Action: execute-api:Invoke, Resource: '*'}]}"),
            "iam.principals[0].policies[1]",
            "Statement[0]",
        );
        // Identity policies name no principal.
        refused(
            &p("{Statement: [{Effect: Allow, Principal: '*', Action: execute-api:Invoke, Resource: '*'}]}"),
            "iam.principals[0].policies[1]",
            "Principal",
        );
        refused(
            &p("'not json'"),
            "iam.principals[0].policies[1]",
            "not a JSON document",
        );
    }

    #[test]
    fn keys_and_secret_sources_are_checked() {
        let d = Dir::new("keys");
        let secret = d.file("secret", SECRET);
        let empty = d.file("empty", " \n");
        let arn = "arn:aws:iam::123456789012:user/alice";
        refused(
            &config(&format!(
                "    - {{access_key_id: 'AKIA 1', secret_access_key_file: {secret}, arn: '{arn}'}}"
            )),
            "iam.principals[0].access_key_id",
            "letters and digits",
        );
        refused(
            &config(&format!(
                "    - {{access_key_id: {AKID}, secret_access_key_file: {secret}, arn: '{arn}'}}
    - {{access_key_id: {AKID}, secret_access_key_file: {secret}, arn: '{arn}'}}"
            )),
            "iam.principals[1].access_key_id",
            "duplicate",
        );
        refused(
            &config(&format!("    - {{access_key_id: {AKID}, arn: '{arn}'}}")),
            "iam.principals[0]",
            "exactly one of `secret_access_key_file` and `secret_access_key_env`",
        );
        refused(
            &config(&format!(
                "    - {{access_key_id: {AKID}, secret_access_key_file: {empty}, arn: '{arn}'}}"
            )),
            "iam.principals[0].secret_access_key_file",
            "is empty",
        );
        refused(
            &config(&format!(
                "    - {{access_key_id: {AKID}, secret_access_key_file: /nonexistent/tollgate/secret, arn: '{arn}'}}"
            )),
            "iam.principals[0].secret_access_key_file",
            "cannot read",
        );
        refused(
            &config(&format!(
                "    - {{access_key_id: {AKID}, secret_access_key_env: TOLLGATE_TEST_SURELY_UNSET_VAR, arn: '{arn}'}}"
            )),
            "iam.principals[0].secret_access_key_env",
            "is not set",
        );
        refused(
            &config(&format!(
                "    - {{access_key_id: {AKID}, secret_access_key_file: {secret}, session_token_file: {secret}, session_token_env: X, arn: '{arn}'}}"
            )),
            "iam.principals[0]",
            "exactly one of `session_token_file` and `session_token_env`",
        );
        for bad in [
            "alice",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:",
            "arn:aws:iam:us-east-1:123456789012:user/alice",
        ] {
            refused(
                &config(&format!(
                    "    - {{access_key_id: {AKID}, secret_access_key_file: {secret}, arn: '{bad}'}}"
                )),
                "iam.principals[0].arn",
                "",
            );
        }
        refused(
            &config(&format!(
                "    - {{access_key_id: {AKID}, secret_access_key_file: {secret}, arn: '{arn}', user_id: ''}}"
            )),
            "iam.principals[0].user_id",
            "non-empty",
        );
    }
}
