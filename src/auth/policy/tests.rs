//! Parsing and evaluation of whole documents.

use std::net::IpAddr;

use serde_json::json;

use super::*;

const API: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123";
const GET_PETS: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets";
const POST_PETS: &str = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/POST/pets";
const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const BOB_OTHER: &str = "arn:aws:iam::210987654321:user/team/bob";

fn identity(doc: serde_json::Value) -> Policy {
    Policy::from_value(&doc, &ParseOptions::IDENTITY).unwrap_or_else(|e| panic!("{e}"))
}

fn resource(doc: serde_json::Value) -> Policy {
    Policy::from_value(&doc, &ParseOptions::resource(Some(API))).unwrap_or_else(|e| panic!("{e}"))
}

fn refused(doc: serde_json::Value, options: &ParseOptions<'_>) -> String {
    match Policy::from_value(&doc, options) {
        Ok(p) => panic!("accepted: {doc} -> {p:?}"),
        Err(e) => e.to_string(),
    }
}

fn facts<'a>(resource: &'a str) -> RequestFacts<'a> {
    RequestFacts {
        action: "execute-api:Invoke",
        resource,
        caller: None,
        source_ip: "192.0.2.10".parse().unwrap(),
        source_vpce: Some("public"),
    }
}

fn with_ip<'a>(f: RequestFacts<'a>, ip: &str) -> RequestFacts<'a> {
    RequestFacts {
        source_ip: ip.parse::<IpAddr>().unwrap(),
        ..f
    }
}

fn as_caller<'a>(f: RequestFacts<'a>, arn: &'a str) -> RequestFacts<'a> {
    RequestFacts {
        caller: Caller::from_arn(arn),
        ..f
    }
}

fn allow(action: &str, resource: &str) -> serde_json::Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]})
}

// ---- evaluation ----

#[test]
fn lambda_authorizer_style_policy() {
    // The shape a Lambda authorizer returns: one statement object, not an array.
    let p = identity(json!({
        "Version": "2012-10-17",
        "Statement": {"Action": "execute-api:Invoke", "Effect": "Allow",
                      "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/*"}
    }));
    assert_eq!(p.len(), 1);
    assert_eq!(p.evaluate(&facts(GET_PETS)), Decision::Allow);
    assert_eq!(p.evaluate(&facts(POST_PETS)), Decision::NoMatch);
    let deny = identity(json!({
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": "*"}]
    }));
    assert_eq!(deny.evaluate(&facts(GET_PETS)), Decision::ExplicitDeny);
}

#[test]
fn deny_wins_over_allow_in_any_order_and_any_policy() {
    let allow_all = json!({"Effect": "Allow", "Action": "*", "Resource": "*"});
    let deny_get = json!({"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": GET_PETS});
    for statements in [
        json!([allow_all.clone(), deny_get.clone()]),
        json!([deny_get.clone(), allow_all.clone()]),
    ] {
        let p = identity(json!({"Version": "2012-10-17", "Statement": statements}));
        assert_eq!(p.evaluate(&facts(GET_PETS)), Decision::ExplicitDeny);
        assert_eq!(p.evaluate(&facts(POST_PETS)), Decision::Allow);
    }
    // Across several policies (an IAM caller's), a Deny in a later one still wins.
    let a = identity(json!({"Statement": allow_all}));
    let d = identity(json!({"Statement": deny_get}));
    assert_eq!(evaluate([&a, &d], &facts(GET_PETS)), Decision::ExplicitDeny);
    assert_eq!(evaluate([&d, &a], &facts(GET_PETS)), Decision::ExplicitDeny);
    assert_eq!(evaluate([&a, &d], &facts(POST_PETS)), Decision::Allow);
    assert_eq!(evaluate([&d], &facts(POST_PETS)), Decision::NoMatch);
    assert_eq!(evaluate([], &facts(POST_PETS)), Decision::NoMatch);
    let empty = identity(json!({"Statement": []}));
    assert!(empty.is_empty());
    assert_eq!(empty.evaluate(&facts(GET_PETS)), Decision::NoMatch);
}

#[test]
fn actions_wildcards_and_case() {
    for (action, matches) in [
        ("execute-api:Invoke", true),
        ("execute-api:invoke", true),
        ("EXECUTE-API:INVOKE", true),
        ("Execute-Api:*", true),
        ("execute-api:*", true),
        ("execute-api:Inv?ke", true),
        ("execute-api:In*", true),
        ("*", true),
        ("*:Invoke", true),
        ("execute-api:InvalidateCache", false),
        ("execute-api:ManageConnections", false),
        ("s3:GetObject", false),
        ("execute-api:Invoke?", false),
    ] {
        let p = identity(allow(action, "*"));
        let want = if matches {
            Decision::Allow
        } else {
            Decision::NoMatch
        };
        assert_eq!(p.evaluate(&facts(GET_PETS)), want, "Action {action:?}");
    }
    let p = identity(allow("execute-api:*", "*"));
    let invalidate = RequestFacts {
        action: "execute-api:InvalidateCache",
        ..facts(GET_PETS)
    };
    assert_eq!(p.evaluate(&invalidate), Decision::Allow);
    let a = identity(json!({"Statement": {"Effect": "Allow",
        "Action": ["s3:GetObject", "execute-api:Invoke"], "Resource": "*"}}));
    assert_eq!(
        a.evaluate(&facts(GET_PETS)),
        Decision::Allow,
        "any action of a list"
    );
}

#[test]
fn resources_wildcards_in_every_position() {
    for (pattern, get, post) in [
        (GET_PETS, true, false),
        ("*", true, true),
        ("arn:aws:execute-api:*", true, true),
        ("arn:aws:execute-api:*:*:*", true, true),
        (
            "arn:aws:execute-api:us-east-1:123456789012:abc123/*",
            true,
            true,
        ),
        (
            "arn:aws:execute-api:us-east-1:123456789012:abc123/*/GET/*",
            true,
            false,
        ),
        (
            "arn:aws:execute-api:us-east-1:123456789012:abc123/*/*/pets",
            true,
            true,
        ),
        (
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*",
            true,
            true,
        ),
        (
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/?ET/pets",
            true,
            false,
        ),
        (
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/P*/pets",
            false,
            true,
        ),
        (
            "arn:aws:execute-api:us-east-1:123456789012:*/prod/GET/pets",
            true,
            false,
        ),
        (
            "arn:aws:execute-api:us-east-1:*:abc123/prod/GET/pets",
            true,
            false,
        ),
        (
            "arn:aws:execute-api:*:123456789012:abc123/prod/GET/pets",
            true,
            false,
        ),
        (
            "arn:*:execute-api:us-east-1:123456789012:abc123/prod/GET/pets",
            true,
            false,
        ),
        (
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/pets/*",
            false,
            false,
        ),
        (
            "arn:aws:execute-api:us-east-1:123456789012:abc123/test/*",
            false,
            false,
        ),
        (
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/get/pets",
            false,
            false,
        ),
        ("arn:aws:execute-api:us-east-1:*/prod/*", false, false),
    ] {
        let p = identity(allow("execute-api:Invoke", pattern));
        let d = |b: bool| {
            if b {
                Decision::Allow
            } else {
                Decision::NoMatch
            }
        };
        assert_eq!(p.evaluate(&facts(GET_PETS)), d(get), "{pattern} vs GET");
        assert_eq!(p.evaluate(&facts(POST_PETS)), d(post), "{pattern} vs POST");
    }
    // The root resource's method ARN ends with the method and a slash.
    let root = "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/";
    let p = identity(allow("execute-api:Invoke", root));
    assert_eq!(p.evaluate(&facts(root)), Decision::Allow);
    assert_eq!(p.evaluate(&facts(GET_PETS)), Decision::NoMatch);
    let p = identity(allow(
        "execute-api:Invoke",
        "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/GET/*",
    ));
    assert_eq!(
        p.evaluate(&facts(root)),
        Decision::Allow,
        "* matches the empty path"
    );
}

#[test]
fn not_action_and_not_resource() {
    // Deny everything but GET /pets.
    let p = identity(json!({"Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "NotResource": GET_PETS},
    ]}));
    assert_eq!(p.evaluate(&facts(GET_PETS)), Decision::Allow);
    assert_eq!(p.evaluate(&facts(POST_PETS)), Decision::ExplicitDeny);
    // Allow every action except cache invalidation.
    let p = identity(json!({"Statement":
        {"Effect": "Allow", "NotAction": "execute-api:InvalidateCache", "Resource": "*"}}));
    assert_eq!(p.evaluate(&facts(GET_PETS)), Decision::Allow);
    let invalidate = RequestFacts {
        action: "execute-api:InvalidateCache",
        ..facts(GET_PETS)
    };
    assert_eq!(p.evaluate(&invalidate), Decision::NoMatch);
    // NotResource with a list: applies to none of them.
    let p = identity(json!({"Statement":
        {"Effect": "Allow", "Action": "*", "NotResource": [GET_PETS, POST_PETS]}}));
    assert_eq!(p.evaluate(&facts(GET_PETS)), Decision::NoMatch);
    assert_eq!(p.evaluate(&facts(POST_PETS)), Decision::NoMatch);
    assert_eq!(
        p.evaluate(&facts(
            "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/PUT/pets"
        )),
        Decision::Allow
    );
}

#[test]
fn principal_forms() {
    let with = |principal: serde_json::Value| {
        resource(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": principal, "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}]}),
        )
    };
    let anon = facts(GET_PETS);
    let alice = as_caller(facts(GET_PETS), ALICE);
    let bob = as_caller(facts(GET_PETS), BOB_OTHER);
    let check = |p: &Policy, a: bool, al: bool, b: bool| {
        let d = |x: bool| {
            if x {
                Decision::Allow
            } else {
                Decision::NoMatch
            }
        };
        assert_eq!(p.evaluate(&anon), d(a), "anonymous");
        assert_eq!(p.evaluate(&alice), d(al), "alice");
        assert_eq!(p.evaluate(&bob), d(b), "bob");
    };
    check(&with(json!("*")), true, true, true);
    check(&with(json!({"AWS": "*"})), true, true, true);
    check(&with(json!({"AWS": "123456789012"})), false, true, false);
    check(
        &with(json!({"AWS": "arn:aws:iam::123456789012:root"})),
        false,
        true,
        false,
    );
    check(&with(json!({"AWS": ALICE})), false, true, false);
    check(
        &with(json!({"AWS": [ALICE, "210987654321"]})),
        false,
        true,
        true,
    );
    check(
        &with(json!({"AWS": ["arn:aws:iam::123456789012:user/Alice"]})),
        false,
        false,
        false,
    );
    // NotPrincipal: everyone except the named ones (anonymous callers included).
    let not_alice = resource(json!({"Statement": [{"Effect": "Deny",
        "NotPrincipal": {"AWS": ALICE}, "Action": "*", "Resource": "*"}]}));
    assert_eq!(not_alice.evaluate(&anon), Decision::ExplicitDeny);
    assert_eq!(not_alice.evaluate(&alice), Decision::NoMatch);
    assert_eq!(not_alice.evaluate(&bob), Decision::ExplicitDeny);
}

#[test]
fn abbreviated_resource_in_resource_policies() {
    let p = resource(json!({"Statement": [{"Effect": "Allow", "Principal": "*",
        "Action": "execute-api:Invoke", "Resource": "execute-api:/prod/GET/*"}]}));
    assert_eq!(p.kind(), PolicyKind::Resource);
    assert_eq!(p.evaluate(&facts(GET_PETS)), Decision::Allow);
    assert_eq!(p.evaluate(&facts(POST_PETS)), Decision::NoMatch);
    // Another API's method ARN is not covered.
    assert_eq!(
        p.evaluate(&facts(
            "arn:aws:execute-api:us-east-1:123456789012:zzz999/prod/GET/pets"
        )),
        Decision::NoMatch
    );
}

#[test]
fn source_ip_conditions_v4_v6_mapped() {
    let p = resource(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
         "Condition": {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]}}}
    ]}));
    let at = |ip: &str| p.evaluate(&with_ip(facts(GET_PETS), ip));
    assert_eq!(at("192.0.2.10"), Decision::Allow);
    assert_eq!(at("192.0.2.255"), Decision::Allow);
    assert_eq!(at("192.0.3.1"), Decision::NoMatch);
    assert_eq!(at("198.51.100.7"), Decision::Allow);
    assert_eq!(at("198.51.100.8"), Decision::NoMatch);
    assert_eq!(at("2001:db8::1"), Decision::Allow);
    assert_eq!(at("2001:db9::1"), Decision::NoMatch);
    assert_eq!(
        at("::ffff:192.0.2.10"),
        Decision::Allow,
        "mapped IPv4 is IPv4"
    );
    assert_eq!(at("::ffff:192.0.3.10"), Decision::NoMatch);

    // The usual deny list: Deny NotIpAddress = only these may call.
    let p = resource(json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1"]}}}
    ]}));
    let at = |ip: &str| p.evaluate(&with_ip(facts(GET_PETS), ip));
    assert_eq!(at("10.1.2.3"), Decision::Allow);
    assert_eq!(at("::1"), Decision::Allow);
    assert_eq!(at("11.0.0.1"), Decision::ExplicitDeny);
    assert_eq!(at("::2"), Decision::ExplicitDeny);

    // Everything, both families.
    let p = resource(
        json!({"Statement": {"Effect": "Deny", "Principal": "*", "Action": "*",
        "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": ["0.0.0.0/0", "::/0"]}}}}),
    );
    for ip in [
        "0.0.0.0",
        "255.255.255.255",
        "::",
        "::ffff:1.1.1.1",
        "ffff::1",
    ] {
        assert_eq!(
            p.evaluate(&with_ip(facts(GET_PETS), ip)),
            Decision::ExplicitDeny,
            "{ip}"
        );
    }
}

#[test]
fn source_vpce_is_the_listener() {
    // API Gateway's private API example: deny unless through the named endpoint.
    let p = resource(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": ["execute-api:/*"],
         "Condition": {"StringNotEquals": {"aws:SourceVpce": "internal"}}},
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": ["execute-api:/*"]}
    ]}));
    let through = |l: Option<&'static str>| {
        p.evaluate(&RequestFacts {
            source_vpce: l,
            ..facts(GET_PETS)
        })
    };
    assert_eq!(through(Some("internal")), Decision::Allow);
    assert_eq!(through(Some("public")), Decision::ExplicitDeny);
    assert_eq!(
        through(Some("Internal")),
        Decision::ExplicitDeny,
        "StringNotEquals is exact"
    );
    assert_eq!(
        through(None),
        Decision::ExplicitDeny,
        "absent key: a negated operator holds"
    );
    let p = resource(
        json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "*",
        "Resource": "*", "Condition": {"StringLike": {"aws:sourcevpce": "int*"}}}}),
    );
    assert_eq!(
        through_policy(&p, Some("internal-2")),
        Decision::Allow,
        "key names ignore case"
    );
    assert_eq!(through_policy(&p, Some("public")), Decision::NoMatch);
    assert_eq!(
        through_policy(&p, None),
        Decision::NoMatch,
        "absent key: a positive operator fails"
    );
}

fn through_policy(p: &Policy, listener: Option<&str>) -> Decision {
    p.evaluate(&RequestFacts {
        source_vpce: listener,
        ..facts(GET_PETS)
    })
}

#[test]
fn principal_conditions() {
    let cond = |c: serde_json::Value| {
        resource(
            json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "*",
            "Resource": "*", "Condition": c}}),
        )
    };
    let anon = facts(GET_PETS);
    let alice = as_caller(facts(GET_PETS), ALICE);
    let bob = as_caller(facts(GET_PETS), BOB_OTHER);
    let d = |x: bool| {
        if x {
            Decision::Allow
        } else {
            Decision::NoMatch
        }
    };

    let p = cond(json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/team/*"}}));
    assert_eq!(p.evaluate(&bob), d(true));
    assert_eq!(p.evaluate(&alice), d(false));
    assert_eq!(p.evaluate(&anon), d(false));
    let p = cond(json!({"ArnNotEquals": {"aws:PrincipalArn": ALICE}}));
    assert_eq!(p.evaluate(&bob), d(true));
    assert_eq!(p.evaluate(&alice), d(false));
    assert_eq!(p.evaluate(&anon), d(true), "negated operator, absent key");
    let p = cond(json!({"StringEquals": {"aws:PrincipalAccount": ["123456789012"]}}));
    assert_eq!(p.evaluate(&alice), d(true));
    assert_eq!(p.evaluate(&bob), d(false));
    let p = cond(json!({"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}));
    assert_eq!(p.evaluate(&alice), d(true));
    assert_eq!(p.evaluate(&bob), d(false));
    let p = cond(json!({"StringEquals": {"aws:username": "bob"}}));
    assert_eq!(p.evaluate(&bob), d(true), "the name after the user's path");
    let p = cond(json!({"StringNotEqualsIgnoreCase": {"aws:username": ["ALICE", "Bob"]}}));
    assert_eq!(p.evaluate(&alice), d(false));
    assert_eq!(
        p.evaluate(&bob),
        d(false),
        "a negated operator fails when any value matches"
    );
    assert_eq!(p.evaluate(&anon), d(true));
    // Null: the key's absence.
    let p = cond(json!({"Null": {"aws:PrincipalArn": "true"}}));
    assert_eq!(p.evaluate(&anon), d(true));
    assert_eq!(p.evaluate(&alice), d(false));
    let p = cond(json!({"Null": {"aws:PrincipalArn": false}}));
    assert_eq!(p.evaluate(&anon), d(false));
    assert_eq!(p.evaluate(&alice), d(true));
    // IfExists: an absent key passes, a present one is compared.
    let p = cond(json!({"StringEqualsIfExists": {"aws:PrincipalAccount": "123456789012"}}));
    assert_eq!(p.evaluate(&anon), d(true));
    assert_eq!(p.evaluate(&alice), d(true));
    assert_eq!(p.evaluate(&bob), d(false));
    // StringLike with ? and *; StringNotLike.
    let p = cond(json!({"StringLike": {"aws:PrincipalArn": "arn:aws:iam::12345678901?:user/*"}}));
    assert_eq!(p.evaluate(&alice), d(true));
    assert_eq!(p.evaluate(&bob), d(false));
    let p = cond(json!({"StringNotLike": {"aws:PrincipalArn": "*:user/team/*"}}));
    assert_eq!(p.evaluate(&alice), d(true));
    assert_eq!(p.evaluate(&bob), d(false));
}

#[test]
fn conditions_are_anded_values_ored() {
    let p = resource(
        json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "*",
        "Resource": "*", "Condition": {
            "IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]},
            "StringEquals": {"aws:SourceVpce": ["internal", "partners"]}
        }}}),
    );
    let e = |ip: &str, l: &'static str| {
        p.evaluate(&RequestFacts {
            source_vpce: Some(l),
            ..with_ip(facts(GET_PETS), ip)
        })
    };
    assert_eq!(e("192.0.2.1", "internal"), Decision::Allow);
    assert_eq!(e("203.0.113.1", "partners"), Decision::Allow);
    assert_eq!(e("192.0.2.1", "public"), Decision::NoMatch);
    assert_eq!(e("198.51.100.1", "internal"), Decision::NoMatch);
}

#[test]
fn callers_and_usernames() {
    let c = Caller::from_arn(ALICE).unwrap();
    assert_eq!(c.account, "123456789012");
    assert_eq!(c.username(), Some("alice"));
    assert_eq!(Caller::from_arn(BOB_OTHER).unwrap().username(), Some("bob"));
    let role = Caller::from_arn("arn:aws:iam::123456789012:role/deployer").unwrap();
    assert_eq!(role.username(), None);
    let session = Caller::from_arn("arn:aws:sts::123456789012:assumed-role/deployer/s1").unwrap();
    assert_eq!(session.account, "123456789012");
    assert_eq!(session.username(), None);
    assert_eq!(Caller::from_arn("arn:aws:iam::12345:user/x"), None);
    assert_eq!(Caller::from_arn("alice"), None);
}

#[test]
fn deciding_sid_for_logs() {
    let p = resource(json!({"Statement": [
        {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"},
        {"Sid": "NoPosts", "Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "execute-api:/*/POST/*"},
    ]}));
    assert_eq!(p.deciding_sid(&facts(POST_PETS)), Some("NoPosts"));
    assert_eq!(p.deciding_sid(&facts(GET_PETS)), Some("Everyone"));
}

#[test]
fn parse_bytes() {
    let p = Policy::parse(
        br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"execute-api:Invoke","Resource":"*"}]}"#,
        &ParseOptions::IDENTITY,
    )
    .unwrap();
    assert_eq!(p.evaluate(&facts(GET_PETS)), Decision::Allow);
    let e = Policy::parse(b"{\"Statement\": [", &ParseOptions::IDENTITY).unwrap_err();
    assert_eq!(e.statement, None);
    assert!(
        e.to_string().starts_with("policy: not a JSON document"),
        "{e}"
    );
    // Versions: both, or none.
    for v in [json!({"Version": "2008-10-17"}), json!({})] {
        let mut doc = allow("*", "*");
        match v.get("Version") {
            Some(ver) => doc["Version"] = ver.clone(),
            None => {
                doc.as_object_mut().unwrap().remove("Version");
            }
        }
        identity(doc);
    }
    // Policy variables are literal text in 2008-10-17.
    let p = identity(json!({"Version": "2008-10-17", "Statement":
        {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:execute-api:r:1:a/${x}"}}));
    assert_eq!(
        p.evaluate(&facts("arn:aws:execute-api:r:1:a/${x}")),
        Decision::Allow
    );
}

// ---- refusals ----

#[test]
fn malformed_documents_refused_with_the_place_and_reason() {
    let id = &ParseOptions::IDENTITY;
    let rp = &ParseOptions::resource(Some(API));
    let cases: Vec<(serde_json::Value, &ParseOptions<'_>, &str)> = vec![
        (json!([]), id, "policy: a policy document is a JSON object"),
        (json!({"Version": "2012-10-17"}), id, "Statement: missing"),
        (json!({"Statement": "x"}), id, "Statement: must be a statement object or an array of them"),
        (json!({"Version": "2019-01-01", "Statement": []}), id,
            "Version: \"2019-01-01\" is not a policy language version (2012-10-17 or 2008-10-17)"),
        (json!({"Version": 2012, "Statement": []}), id, "Version: 2012 is not a policy language version"),
        (json!({"Statement": [], "Extra": 1}), id, "Extra: unknown element (a policy document holds Version, Id and Statement)"),
        (json!({"Statement": [], "Id": 5}), id, "Id: must be a string"),
        (json!({"Statement": [7]}), id, "Statement[0]: Statement: a statement is a JSON object, not a number"),
        (json!({"Statement": [{"Action": "*", "Resource": "*"}]}), id, "Statement[0]: Effect: missing"),
        (json!({"Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]}), id,
            "Statement[0]: Effect: \"allow\" is neither \"Allow\" nor \"Deny\""),
        (json!({"Statement": [{"Sid": "S1", "Effect": "Allow", "Resource": "*"}]}), id,
            "Statement[0] (Sid \"S1\"): Action: missing (a statement needs Action or NotAction)"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "NotAction": "*", "Resource": "*"}]}), id,
            "Statement[0]: Action/NotAction: a statement has Action or NotAction, not both"),
        (json!({"Statement": [{"Effect": "Allow", "Action": []}]}), id, "Statement[0]: Action: is an empty array"),
        (json!({"Statement": [{"Effect": "Allow", "Action": [1], "Resource": "*"}]}), id,
            "Statement[0]: Action: holds a number, where a string was expected"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "Invoke", "Resource": "*"}]}), id,
            "Statement[0]: Action: \"Invoke\" is not an action"),
        (json!({"Statement": [{"Effect": "Allow", "Action": ":Invoke", "Resource": "*"}]}), id,
            "Statement[0]: Action: \":Invoke\" is not an action"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*"}]}), id,
            "Statement[0]: Resource: missing (a statement needs Resource or NotResource)"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "NotResource": "*"}]}), id,
            "Statement[0]: Resource/NotResource: a statement has Resource or NotResource, not both"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": {"a": 1}}]}), id,
            "Statement[0]: Resource: must be a string or an array of strings, not an object"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "abc123/prod/GET/"}]}), id,
            "Statement[0]: Resource: \"abc123/prod/GET/\" is not a resource"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "NotResource": "execute-api:/*"}]}), id,
            "Statement[0]: NotResource: \"execute-api:/*\": the abbreviated form execute-api:/... is for an API's resource policy"),
        (json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
            "Resource": "arn:aws:execute-api:*:*:*/${aws:username}/*"}]}), id,
            "Statement[0]: Resource: \"arn:aws:execute-api:*:*:*/${aws:username}/*\" uses a policy variable"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Effects": "x"}]}), id,
            "Statement[0]: Effects: unknown element (a statement holds Sid, Effect, Action, NotAction, Resource, NotResource, Principal, NotPrincipal, Condition)"),
        (json!({"Statement": [{"Sid": 3, "Effect": "Allow", "Action": "*", "Resource": "*"}]}), id,
            "Statement[0]: Sid: must be a string, not a number"),
        // Principals.
        (json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}), id,
            "Statement[0]: Principal: not allowed here: an identity policy"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}), rp,
            "Statement[0]: Principal: missing (a resource policy's statement needs Principal or NotPrincipal)"),
        (json!({"Statement": [{"Effect": "Allow", "Principal": "*", "NotPrincipal": "*", "Action": "*", "Resource": "*"}]}), rp,
            "Statement[0]: Principal/NotPrincipal: a statement has Principal or NotPrincipal, not both"),
        (json!({"Statement": [{"Effect": "Allow", "Principal": "alice", "Action": "*", "Resource": "*"}]}), rp,
            "Statement[0]: Principal: must be \"*\" or an object like {\"AWS\": ...}, not \"alice\""),
        (json!({"Statement": [{"Effect": "Allow", "Principal": {}, "Action": "*", "Resource": "*"}]}), rp,
            "Statement[0]: Principal: must be \"*\" or an object"),
        (json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "*", "Resource": "*"}]}), rp,
            "Statement[0]: Principal.Service: principal type \"Service\" is not supported"),
        (json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "12345"}, "Action": "*", "Resource": "*"}]}), rp,
            "Statement[0]: Principal.AWS: \"12345\" is not \"*\", a 12-digit account id or an IAM/STS principal ARN"),
        (json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/*"}, "Action": "*", "Resource": "*"}]}), rp,
            "Statement[0]: Principal.AWS: \"arn:aws:iam::123456789012:user/*\": a principal ARN takes no wildcards"),
        (json!({"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": []}, "Action": "*", "Resource": "*"}]}), rp,
            "Statement[0]: NotPrincipal.AWS: is an empty array"),
        // Conditions.
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": []}]}), id,
            "Statement[0]: Condition: must be an object of operators, not an array"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}}]}), id,
            "Statement[0]: Condition.DateGreaterThan: unsupported condition operator (supported: StringEquals"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"ForAnyValue:StringEquals": {"aws:username": "a"}}}]}), id,
            "Statement[0]: Condition.ForAnyValue:StringEquals: set operators"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"NullIfExists": {"aws:username": "true"}}}]}), id,
            "Statement[0]: Condition.NullIfExists: Null takes no IfExists"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"stringequals": {"aws:username": "a"}}}]}), id,
            "Statement[0]: Condition.stringequals: unsupported condition operator"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {}}}]}), id,
            "Statement[0]: Condition.StringEquals: names no condition key"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": "aws:username"}}]}), id,
            "Statement[0]: Condition.StringEquals: must be an object of condition keys, not a string"),
        (json!({"Statement": [{"Sid": "Tags", "Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": "a"}}}]}), id,
            "Statement[0] (Sid \"Tags\"): Condition.StringEquals.aws:PrincipalTag/team: unsupported condition key; supported: aws:SourceIp, aws:SourceVpce, aws:PrincipalArn, aws:PrincipalAccount, aws:username"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}}}]}), id,
            "Statement[0]: Condition.StringEquals.aws:SourceVpc: unsupported condition key (there are no VPCs here: use aws:SourceVpce, which is the listener's name)"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceIp": "10.0.0.1"}}}]}), id,
            "Statement[0]: Condition.StringEquals.aws:SourceIp: aws:SourceIp takes IpAddress, NotIpAddress or Null"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceVpce": "10.0.0.1"}}}]}), id,
            "Statement[0]: Condition.IpAddress.aws:SourceVpce: IP address operators apply to aws:SourceIp only"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"ArnLike": {"aws:username": "arn:x"}}}]}), id,
            "Statement[0]: Condition.ArnLike.aws:username: ARN operators apply to aws:PrincipalArn only"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Sid": "Office", "Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "10.0.0.300/8"]}}}]}), id,
            "Statement[1] (Sid \"Office\"): Condition.IpAddress.aws:SourceIp: \"10.0.0.300/8\" is not an IP address or CIDR block"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"NotIpAddress": {"aws:SourceIp": "2001:db8::/200"}}}]}), id,
            "Statement[0]: Condition.NotIpAddress.aws:SourceIp: \"2001:db8::/200\": an IPv6 prefix length is at most 128"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": []}}}]}), id,
            "Statement[0]: Condition.IpAddress.aws:SourceIp: is an empty array"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:username": {"a": 1}}}}]}), id,
            "Statement[0]: Condition.StringEquals.aws:username: holds an object, where a string was expected"),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"Null": {"aws:username": "yes"}}}]}), id,
            "Statement[0]: Condition.Null.aws:username: Null takes \"true\" or \"false\""),
        (json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": "alice"}}}]}), id,
            "Statement[0]: Condition.ArnLike.aws:PrincipalArn: \"alice\" is not an ARN"),
        (json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:username": "${aws:username}"}}}]}), id,
            "Statement[0]: Condition.StringEquals.aws:username: \"${aws:username}\" uses a policy variable"),
    ];
    for (doc, options, want) in cases {
        let got = refused(doc.clone(), options);
        assert!(
            got.starts_with(want),
            "{doc}\n  got:  {got}\n  want: {want}..."
        );
    }
}

#[test]
fn refusal_names_the_statement_of_a_single_object() {
    let e = Policy::from_value(
        &json!({"Statement": {"Effect": "Maybe", "Action": "*", "Resource": "*"}}),
        &ParseOptions::IDENTITY,
    )
    .unwrap_err();
    assert_eq!(e.statement, Some(0));
    assert_eq!(e.element, "Effect");
    assert!(e.reason.contains("Maybe"));
}

#[test]
fn policies_are_shareable_across_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Policy>();
    send_sync::<PolicyError>();
}
