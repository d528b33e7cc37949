//! examples/authorizers.yaml does what its header and the README say, through the real
//! gateway and the real demo upstream (the JWT issuer, the Lambda-style authorizer and the
//! backend): the example's fixed ports are swapped for ephemeral ones, nothing else.

mod common;

use std::process::Command;

use common::*;

struct Example {
    gw: Gateway,
    up: DemoUpstream,
}

fn start() -> Example {
    let up = DemoUpstream::start();
    let dir = manifest_dir().join("examples");
    let text = std::fs::read_to_string(dir.join("authorizers.yaml")).expect("example");
    let text = text
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("127.0.0.1:8081", "127.0.0.1:0")
        .replace("127.0.0.1:9090", &up.addr())
        .replace(
            "secret_access_key_file: iam/dev-user.secret",
            &format!(
                "secret_access_key_file: '{}'",
                dir.join("iam/dev-user.secret").display()
            ),
        );
    let uncommented: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        !uncommented.contains(":8080") && !uncommented.contains(":9090"),
        "{text}"
    );
    Example {
        gw: Gateway::start(&text),
        up,
    }
}

fn token(example: &Example, args: &[&str]) -> String {
    let iss = format!("http://{}", example.up.addr());
    let mut all = vec!["jwt", "sign", "--iss", iss.as_str()];
    all.extend_from_slice(args);
    let (code, out, err) = cli(&all);
    assert_eq!(code, 0, "tollgate jwt sign: {err}");
    out.trim().to_string()
}

/// curl with `args`, returning (status, body).
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl (installed by `make test-deps`)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    (code.trim().parse().expect("status"), body.to_string())
}

#[test]
fn the_jwt_route_of_the_example() {
    let ex = start();
    let http = ex.gw.port_of("http");
    let url = format!("http://127.0.0.1:{http}/orders");
    let good = token(
        &ex,
        &[
            "--aud",
            "demo-app",
            "--sub",
            "alice",
            "--scope",
            "orders/read",
        ],
    );
    let bearer = format!("Authorization: Bearer {good}");
    // The gateway fetched the issuer's keys at start (it waits for them), so the first
    // request is served.
    let (status, body) = curl(&["-H", &bearer, &url]);
    assert_eq!(status, 200, "{body}");
    let (status, body) = curl(&[&url]);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body, r#"{"message":"Unauthorized"}"#);
    let no_scope = format!(
        "Authorization: Bearer {}",
        token(&ex, &["--aud", "demo-app"])
    );
    let (status, body) = curl(&["-H", &no_scope, &url]);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body, r#"{"message":"Forbidden"}"#);
}

#[test]
fn the_lambda_route_and_the_resource_policy_of_the_example() {
    let ex = start();
    let rest = ex.gw.port_of("rest");
    let url = format!("http://127.0.0.1:{rest}/prod/lambda");
    let (status, body) = curl(&[&url]);
    assert_eq!(status, 401, "{body}");
    let (status, body) = curl(&["-H", "Authorization: allow", &url]);
    assert_eq!(status, 200, "{body}");
    let (status, body) = curl(&["-H", "Authorization: deny", &url]);
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body,
        r#"{"message":"User is not authorized to access this resource with an explicit deny"}"#
    );
    let (status, body) = curl(&["-H", "Authorization: allow", &format!("{url}/secret")]);
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body,
        r#"{"message":"User: anonymous is not authorized to perform: execute-api:Invoke on resource: arn:aws:execute-api:us-east-1:123456789012:demo/prod/GET/lambda/secret with an explicit deny"}"#
    );
}

#[test]
fn the_iam_route_of_the_example() {
    let ex = start();
    let rest = ex.gw.port_of("rest");
    let url = format!("http://127.0.0.1:{rest}/prod/iam/anything");
    let secret = std::fs::read_to_string(manifest_dir().join("examples/iam/dev-user.secret"))
        .expect("secret");
    let user = format!("AKIDTOLLGATEDEV1:{}", secret.trim());
    let (status, body) = curl(&[
        "--aws-sigv4",
        "aws:amz:us-east-1:execute-api",
        "--user",
        &user,
        &url,
    ]);
    assert_eq!(status, 200, "{body}");
    let (status, body) = curl(&[&url]);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body, r#"{"message":"Missing Authentication Token"}"#);
    let wrong = "AKIDTOLLGATEDEV1:not-the-secret";
    let (status, body) = curl(&[
        "--aws-sigv4",
        "aws:amz:us-east-1:execute-api",
        "--user",
        wrong,
        &url,
    ]);
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("The request signature we calculated does not match"),
        "{body}"
    );
    // The load generator signs too (every answer 2xx).
    let port = rest.to_string();
    let target = format!("http://127.0.0.1:{port}/prod/iam/x");
    let sigv4 = format!("{user}:us-east-1");
    let (code, out, err) = cli(&[
        "load",
        "--sigv4",
        &sigv4,
        "--requests",
        "200",
        "--connections",
        "4",
        "--warmup",
        "0s",
        "--json",
        "--quiet",
        &target,
    ]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json report");
    assert_eq!(report["status"]["2xx"], 200, "{out}");
    assert_eq!(report["errors"]["total"], 0, "{out}");
}
