//! `apis[i].resource_policy`: a REST API's resource policy, an IAM policy document (YAML or
//! JSON in the file, or a string holding JSON text as API Gateway's `policy` property),
//! compiled once at load with `auth::policy` as a resource policy of the API's ARN
//! `arn:aws:execute-api:{server.region}:{server.account_id}:{api id}` (so API Gateway's
//! abbreviation `execute-api:/{stage}/{METHOD}/{path}` names this API's methods). A document
//! that cannot be evaluated refuses the file, at `apis[i].resource_policy`, with the
//! statement and element at fault.

use super::snapshot::{ApiType, ServerSettings};
use super::validate::Errors;
use crate::auth::policy::{ParseOptions, Policy};

/// A compiled resource policy.
#[derive(Debug)]
pub struct ResourcePolicy {
    /// The document, compiled (immutable; evaluating it allocates nothing).
    pub policy: Policy,
    /// `arn:aws:execute-api:{region}:{account}:{api id}`, the prefix of the API's method ARNs.
    pub api_arn: Box<str>,
}

pub(super) fn build(
    e: &mut Errors,
    api_type: ApiType,
    server: &ServerSettings,
    api_id: &str,
    document: &serde_json::Value,
    path: &str,
) -> Option<ResourcePolicy> {
    if api_type != ApiType::Rest {
        e.push(path, "resource policies are a REST API feature");
        return None;
    }
    let api_arn = api_arn(server, api_id);
    let options = ParseOptions::resource(Some(&api_arn));
    let compiled = match document {
        serde_json::Value::String(text) => Policy::parse(text.as_bytes(), &options),
        other => Policy::from_value(other, &options),
    };
    match compiled {
        Ok(policy) => Some(ResourcePolicy {
            policy,
            api_arn: api_arn.into_boxed_str(),
        }),
        Err(err) => {
            e.push(path, err.to_string());
            None
        }
    }
}

/// The API's ARN, as method ARNs begin.
pub fn api_arn(server: &ServerSettings, api_id: &str) -> String {
    format!(
        "arn:aws:execute-api:{}:{}:{}",
        server.region, server.account_id, api_id
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::net::IpAddr;

    use crate::auth::policy::{Decision, RequestFacts};
    use crate::config::validate::tests::{assert_error, check, errors};

    fn config(server: &str, api_type: &str, policy: &str) -> String {
        format!(
            "{server}listeners: [{{name: public, bind: 127.0.0.1:0}}]
apis:
  - id: demo
{api_type}    routes: []
    stages: [{{name: prod}}]
    resource_policy:
{policy}"
        )
    }

    const IP_DENY: &str = "      Version: '2012-10-17'
      Statement:
        - Effect: Allow
          Principal: '*'
          Action: execute-api:Invoke
          Resource: execute-api:/*
        - Sid: NoLocal
          Effect: Deny
          Principal: '*'
          Action: execute-api:Invoke
          Resource: execute-api:/prod/GET/secret
          Condition: {IpAddress: {aws:SourceIp: [10.0.0.0/8, 'fd00::/8']}}
";

    fn facts<'a>(resource: &'a str, ip: &str) -> RequestFacts<'a> {
        RequestFacts {
            action: "execute-api:Invoke",
            resource,
            caller: None,
            source_ip: ip.parse::<IpAddr>().unwrap(),
            source_vpce: Some("public"),
        }
    }

    #[test]
    fn yaml_document_compiled_against_the_api_arn() {
        let snap = check(&config("", "", IP_DENY)).unwrap_or_else(|e| panic!("{e}"));
        let rp = snap.apis[0].resource_policy.as_ref().expect("compiled");
        assert_eq!(
            &*rp.api_arn,
            "arn:aws:execute-api:us-east-1:123456789012:demo"
        );
        let secret = "arn:aws:execute-api:us-east-1:123456789012:demo/prod/GET/secret";
        let open = "arn:aws:execute-api:us-east-1:123456789012:demo/prod/GET/open";
        assert_eq!(
            rp.policy.evaluate(&facts(secret, "10.1.2.3")),
            Decision::ExplicitDeny
        );
        assert_eq!(
            rp.policy.evaluate(&facts(secret, "fd00::1")),
            Decision::ExplicitDeny
        );
        assert_eq!(
            rp.policy.evaluate(&facts(secret, "127.0.0.1")),
            Decision::Allow
        );
        assert_eq!(
            rp.policy.evaluate(&facts(open, "10.1.2.3")),
            Decision::Allow
        );
        // The abbreviation names this API only: another API's method is not matched.
        let other = "arn:aws:execute-api:us-east-1:123456789012:other/prod/GET/open";
        assert_eq!(
            rp.policy.evaluate(&facts(other, "127.0.0.1")),
            Decision::NoMatch
        );
    }

    #[test]
    fn region_and_account_come_from_the_server_settings() {
        let server = "server: {region: eu-west-3, account_id: '210987654321'}\n";
        let snap = check(&config(server, "", IP_DENY)).unwrap_or_else(|e| panic!("{e}"));
        let rp = snap.apis[0].resource_policy.as_ref().expect("compiled");
        assert_eq!(
            &*rp.api_arn,
            "arn:aws:execute-api:eu-west-3:210987654321:demo"
        );
        let secret = "arn:aws:execute-api:eu-west-3:210987654321:demo/prod/GET/secret";
        assert_eq!(
            rp.policy.evaluate(&facts(secret, "10.0.0.1")),
            Decision::ExplicitDeny
        );
        // The default region's ARN is another resource.
        let default = "arn:aws:execute-api:us-east-1:123456789012:demo/prod/GET/secret";
        assert_eq!(
            rp.policy.evaluate(&facts(default, "10.0.0.1")),
            Decision::NoMatch
        );
    }

    #[test]
    fn json_text_accepted() {
        let doc = r#"      '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*","Condition":{"StringEquals":{"aws:SourceVpce":"internal"}}}]}'
"#;
        let snap = check(&config("", "", doc)).unwrap_or_else(|e| panic!("{e}"));
        let rp = snap.apis[0].resource_policy.as_ref().expect("compiled");
        let arn = "arn:aws:execute-api:us-east-1:123456789012:demo/prod/GET/x";
        let mut f = facts(arn, "127.0.0.1");
        assert_eq!(rp.policy.evaluate(&f), Decision::NoMatch);
        f.source_vpce = Some("internal");
        assert_eq!(rp.policy.evaluate(&f), Decision::Allow);
    }

    #[test]
    fn bad_document_refused_with_its_key_path() {
        let bad_cidr = IP_DENY.replace("10.0.0.0/8", "10.0.0.300/8");
        let list = errors(&config("", "", &bad_cidr));
        assert_error(
            &list,
            "apis[0].resource_policy",
            "Statement[1] (Sid \"NoLocal\"): Condition.IpAddress.aws:SourceIp",
        );
        // A resource policy's statements name their principals.
        let no_principal = "      Statement: {Effect: Allow, Action: '*', Resource: '*'}\n";
        let list = errors(&config("", "", no_principal));
        assert_error(&list, "apis[0].resource_policy", "Principal");
        // Not JSON text.
        let list = errors(&config("", "", "      '{not json'\n"));
        assert_error(&list, "apis[0].resource_policy", "not a JSON document");
        let list = errors(&config("", "", "      [1, 2]\n"));
        assert_error(&list, "apis[0].resource_policy", "JSON object");
    }

    #[test]
    fn http_apis_have_none() {
        let list = errors(&config("", "    type: HTTP\n", IP_DENY));
        assert_error(
            &list,
            "apis[0].resource_policy",
            "resource policies are a REST API feature",
        );
    }
}
