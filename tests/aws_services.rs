//! AWS service integrations (`type: AWS` with `arn:aws:apigateway:{region}:{service}:path/...`
//! or `:action/...`) end to end, through the real gateway binary:
//!
//! - against moto's server mode (tests/common/moto.rs), with moto checking every SigV4
//!   signature against an IAM user's keys: SQS `SendMessage` / `ReceiveMessage` by action
//!   (a forged key refused by moto, nothing queued), S3 `PutObject` / `GetObject` by path
//!   (text, binary bytes with the API's binary media types, `content_handling` both ways, a
//!   `{bucket}.s3` ARN, a missing key), DynamoDB `PutItem` / `GetItem` by action (JSON 1.0
//!   with `X-Amz-Target`);
//! - unsigned calls (`credentials: {from: none}`) that moto serves (a public-read object);
//! - the request on the wire, captured by a scripted endpoint: the Authorization header's
//!   shape, `x-amz-date`, S3's payload hash, the parameter mapping, no signature at all
//!   without credentials;
//! - failures: a silent service (504 `Endpoint request timed out`), an unreachable one,
//!   a CONVERT_TO_BINARY body that is not base64, a path placeholder without a value.

mod common;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::moto::{xml_text, MotoServer, ACCOUNT};
use common::*;
use serde_json::json;
use tollgate::error::{ErrorKind, GatewayResponse};

/// A gateway serving one REST API `shop` (stage `prod`, variable `queue: orders`) on the
/// default endpoint, with `aws` settings and `routes` spliced in.
fn config(aws: &str, routes: &str) -> String {
    format!(
        "
listeners:
  - name: public
    bind: 127.0.0.1:0
    default_api: shop
aws:
{aws}
apis:
  - id: shop
    type: REST
    binary_media_types: [image/png]
    routes:
{routes}
    stages:
      - name: prod
        variables: {{queue: orders}}
"
    )
}

/// `aws:` signing with static keys, the secret in a file, every service at `endpoint`.
fn signed_aws(akid: &str, secret_file: &TempFile, endpoint: &str) -> String {
    format!(
        "  region: us-east-1
  credentials:
    from: static
    access_key_id: {akid}
    secret_access_key_file: '{}'
  endpoints:
    sqs: {endpoint}
    s3: {endpoint}
    dynamodb: {endpoint}",
        secret_file.display()
    )
}

fn call(
    gw: &Gateway,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    gw.send(&req(method, target, headers, body))
}

#[track_caller]
fn assert_ok(r: &Response, what: &str) {
    assert_eq!(r.status, 200, "{what}: {}", r.describe());
    r.assert_request_id();
}

// ------------------------------------------------------------------ against moto

/// ReceiveMessage's form body. (moto re-signs a query-protocol request over its form
/// parameters re-encoded, not over the bytes sent: with an empty body it hashes the query
/// parameters as the payload, and it writes a space in a form body as `+`. So the tests
/// send form bodies, encoded as moto re-encodes them; the bytes are passed on as they are.)
const RECEIVE: &[u8] = b"MaxNumberOfMessages=1&VisibilityTimeout=30";

#[test]
fn sqs_messages_are_sent_and_received_with_signatures_moto_checks() {
    let moto = MotoServer::start();
    let (akid, secret) = moto.create_user("gateway");
    let r = moto.setup_action(
        "sqs",
        "Action=CreateQueue&Version=2012-11-05&QueueName=orders",
    );
    let queue_url = xml_text(&r.body_str(), "QueueUrl").expect("QueueUrl");
    assert_eq!(queue_url, format!("{}/{ACCOUNT}/orders", moto.endpoint()));
    moto.check_signatures();

    let secret_file = write_temp("secret", &secret);
    let forged = write_temp("forged", "not-the-secret-access-key");
    let routes = format!(
        "      - route: POST /orders
        integration:
          type: AWS
          uri: arn:aws:apigateway:us-east-1:sqs:action/SendMessage
          method: POST
          request_parameters:
            integration.request.querystring.QueueUrl: \"'{queue_url}'\"
            integration.request.querystring.MessageAttribute.1.Name: \"'source'\"
            integration.request.querystring.MessageAttribute.1.Value.DataType: \"'String'\"
            integration.request.querystring.MessageAttribute.1.Value.StringValue: method.request.header.X-Source
      - route: POST /orders/next
        integration:
          type: AWS
          uri: arn:aws:apigateway:us-east-1:sqs:action/ReceiveMessage
          method: POST
          request_parameters:
            integration.request.querystring.QueueUrl: \"'{queue_url}'\"
            integration.request.querystring.MessageAttributeName.1: \"'All'\"
      - route: POST /orders/forged
        integration:
          type: AWS
          uri: arn:aws:apigateway:us-east-1:sqs:action/SendMessage
          method: POST
          credentials: {{access_key_id: {akid}, secret_access_key_file: '{}'}}
          request_parameters:
            integration.request.querystring.QueueUrl: \"'{queue_url}'\"",
        forged.display()
    );
    let gw = Gateway::start(&config(
        &signed_aws(&akid, &secret_file, &moto.endpoint()),
        &routes,
    ));
    let form = [("Content-Type", "application/x-www-form-urlencoded")];

    // A wrong secret: moto refuses the signature, and its answer is passed back.
    let r = call(
        &gw,
        "POST",
        "/prod/orders/forged",
        &form,
        b"MessageBody=forged",
    );
    assert_eq!(r.status, 403, "{}", r.describe());
    assert!(
        r.body_str().contains("SignatureDoesNotMatch"),
        "{}",
        r.describe()
    );
    r.assert_request_id();
    let r = call(&gw, "POST", "/prod/orders/next", &form, RECEIVE);
    assert_ok(&r, "receive from the empty queue");
    assert!(
        !r.body_str().contains("<Message>"),
        "nothing was queued: {}",
        r.describe()
    );

    // Signed with the user's keys: sent (the body is the form the client posted)...
    let headers = [form[0], ("X-Source", "web shop")];
    let r = call(
        &gw,
        "POST",
        "/prod/orders",
        &headers,
        b"MessageBody=hello+from+tollgate",
    );
    assert_ok(&r, "SendMessage");
    let xml = r.body_str();
    assert!(xml_text(&xml, "MessageId").is_some(), "{xml}");
    // MD5 of "hello from tollgate": the body arrived decoded from the form.
    assert_eq!(
        xml_text(&xml, "MD5OfMessageBody").as_deref(),
        Some("ab6455d8735fdc3845aeaec2c93e3b8e"),
        "{xml}"
    );
    assert!(
        r.header("content-type").is_some_and(|t| t.contains("xml")),
        "{}",
        r.describe()
    );
    // ... and received, with the attribute mapped from the header.
    let r = call(&gw, "POST", "/prod/orders/next", &form, RECEIVE);
    assert_ok(&r, "ReceiveMessage");
    let xml = r.body_str();
    assert_eq!(
        xml_text(&xml, "Body").as_deref(),
        Some("hello from tollgate"),
        "{xml}"
    );
    assert_eq!(xml_text(&xml, "Name").as_deref(), Some("source"), "{xml}");
    assert_eq!(
        xml_text(&xml, "StringValue").as_deref(),
        Some("web shop"),
        "{xml}"
    );
}

#[test]
fn s3_objects_are_written_and_read_back_by_path() {
    let moto = MotoServer::start();
    let (akid, secret) = moto.create_user("gateway");
    moto.setup("s3", "PUT", "/photos", &[], b"");
    moto.check_signatures();

    let secret_file = write_temp("secret", &secret);
    let forged = write_temp("forged", "not-the-secret-access-key");
    let s3 = |route: &str, uri: &str, method: &str, extra: &str| {
        format!(
            "      - route: {route}
        integration:
          type: AWS
          uri: '{uri}'
          method: {method}
{extra}"
        )
    };
    let routes = [
        s3(
            "PUT /files/{name}",
            "arn:aws:apigateway:us-east-1:s3:path/photos/{key}",
            "PUT",
            "          request_parameters:
            integration.request.path.key: method.request.path.name",
        ),
        // {name} by the route parameter's name.
        s3(
            "GET /files/{name}",
            "arn:aws:apigateway:us-east-1:s3:path/photos/{name}",
            "GET",
            "",
        ),
        // The bucket as the ARN's subdomain: path-style on a configured endpoint.
        s3(
            "GET /by-host/{name}",
            "arn:aws:apigateway:us-east-1:photos.s3:path/{name}",
            "GET",
            "",
        ),
        s3(
            "PUT /base64/{name}",
            "arn:aws:apigateway:us-east-1:s3:path/photos/{name}",
            "PUT",
            "          content_handling: CONVERT_TO_BINARY",
        ),
        s3(
            "PUT /as-text/{name}",
            "arn:aws:apigateway:us-east-1:s3:path/photos/{name}",
            "PUT",
            "          content_handling: CONVERT_TO_TEXT",
        ),
        s3(
            "PUT /forged/{name}",
            "arn:aws:apigateway:us-east-1:s3:path/photos/{name}",
            "PUT",
            &format!(
                "          credentials: {{access_key_id: {akid}, secret_access_key_file: '{}'}}",
                forged.display()
            ),
        ),
    ]
    .join("\n");
    let gw = Gateway::start(&config(
        &signed_aws(&akid, &secret_file, &moto.endpoint()),
        &routes,
    ));

    // Text, and a name that needs percent-encoding.
    for name in ["notes.txt", "my%20notes.txt"] {
        let body = format!("hello s3: {name}");
        let r = call(
            &gw,
            "PUT",
            &format!("/prod/files/{name}"),
            &[("Content-Type", "text/plain")],
            body.as_bytes(),
        );
        assert_ok(&r, "PutObject");
        let r = call(&gw, "GET", &format!("/prod/files/{name}"), &[], b"");
        assert_ok(&r, "GetObject");
        assert_eq!(r.body_str(), body);
        assert_eq!(
            r.header("content-type"),
            Some("text/plain"),
            "{}",
            r.describe()
        );
    }

    // Binary bytes (an image/png body, one of the API's binary media types), byte-exact.
    let bytes: Vec<u8> = (0..4).flat_map(|_| 0u8..=255).collect();
    let png = [("Content-Type", "image/png")];
    let r = call(&gw, "PUT", "/prod/files/pixel.png", &png, &bytes);
    assert_ok(&r, "PutObject binary");
    let r = call(
        &gw,
        "GET",
        "/prod/files/pixel.png",
        &[("Accept", "image/png")],
        b"",
    );
    assert_ok(&r, "GetObject binary");
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert!(r.body == bytes, "binary object read back byte for byte");
    let r = call(&gw, "GET", "/prod/by-host/pixel.png", &[], b"");
    assert_ok(&r, "GetObject through a {bucket}.s3 ARN");
    assert!(r.body == bytes);

    // CONVERT_TO_BINARY: a base64 text body is stored decoded.
    let text = [("Content-Type", "text/plain")];
    let r = call(
        &gw,
        "PUT",
        "/prod/base64/decoded.bin",
        &text,
        STANDARD.encode(&bytes).as_bytes(),
    );
    assert_ok(&r, "PutObject CONVERT_TO_BINARY");
    let r = call(&gw, "GET", "/prod/files/decoded.bin", &[], b"");
    assert_ok(&r, "GetObject decoded");
    assert!(r.body == bytes, "stored decoded");

    // CONVERT_TO_TEXT: a binary body is stored base64-encoded.
    let r = call(&gw, "PUT", "/prod/as-text/encoded.png", &png, &bytes);
    assert_ok(&r, "PutObject CONVERT_TO_TEXT");
    let r = call(&gw, "GET", "/prod/files/encoded.png", &[], b"");
    assert_ok(&r, "GetObject encoded");
    assert_eq!(r.body_str(), STANDARD.encode(&bytes));

    // A wrong secret: moto refuses the signature; nothing is written.
    let r = call(&gw, "PUT", "/prod/forged/forged.txt", &text, b"forged");
    assert_eq!(r.status, 403, "{}", r.describe());
    assert!(
        r.body_str().contains("SignatureDoesNotMatch"),
        "{}",
        r.describe()
    );
    let r = call(&gw, "GET", "/prod/files/forged.txt", &[], b"");
    assert_eq!(r.status, 404, "{}", r.describe());

    // The service's error is passed through.
    let r = call(&gw, "GET", "/prod/files/missing.txt", &[], b"");
    assert_eq!(r.status, 404, "{}", r.describe());
    assert!(r.body_str().contains("NoSuchKey"), "{}", r.describe());
    r.assert_request_id();
}

#[test]
fn dynamodb_items_are_put_and_got() {
    let moto = MotoServer::start();
    let (akid, secret) = moto.create_user("gateway");
    let table = json!({
        "TableName": "orders",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST"
    });
    moto.setup(
        "dynamodb",
        "POST",
        "/",
        &[
            ("X-Amz-Target", "DynamoDB_20120810.CreateTable"),
            ("Content-Type", "application/x-amz-json-1.0"),
        ],
        table.to_string().as_bytes(),
    );
    moto.check_signatures();

    let secret_file = write_temp("secret", &secret);
    let forged = write_temp("forged", "not-the-secret-access-key");
    let routes = format!(
        "      - route: POST /items
        integration:
          type: AWS
          uri: arn:aws:apigateway:us-east-1:dynamodb:action/PutItem
          method: POST
      - route: POST /items/get
        integration:
          type: AWS
          uri: arn:aws:apigateway:us-east-1:dynamodb:action/GetItem
          method: POST
      - route: POST /items/forged
        integration:
          type: AWS
          uri: arn:aws:apigateway:us-east-1:dynamodb:action/PutItem
          method: POST
          credentials: {{access_key_id: {akid}, secret_access_key_file: '{}'}}",
        forged.display()
    );
    let gw = Gateway::start(&config(
        &signed_aws(&akid, &secret_file, &moto.endpoint()),
        &routes,
    ));
    let json_ct = [("Content-Type", "application/json")];

    let item = json!({"id": {"S": "o-1"}, "total": {"N": "42"}, "note": {"S": "fragile"}});
    let put = json!({"TableName": "orders", "Item": item});
    // A wrong secret: moto refuses the signature; nothing is written.
    let r = call(
        &gw,
        "POST",
        "/prod/items/forged",
        &json_ct,
        put.to_string().as_bytes(),
    );
    assert_eq!(r.status, 403, "{}", r.describe());
    assert!(r.body_str().contains("Signature"), "{}", r.describe());
    let get = json!({"TableName": "orders", "Key": {"id": {"S": "o-1"}}});
    let r = call(
        &gw,
        "POST",
        "/prod/items/get",
        &json_ct,
        get.to_string().as_bytes(),
    );
    assert_ok(&r, "GetItem before PutItem");
    assert_eq!(r.json(), json!({}));

    let r = call(
        &gw,
        "POST",
        "/prod/items",
        &json_ct,
        put.to_string().as_bytes(),
    );
    assert_ok(&r, "PutItem");
    assert_eq!(r.json(), json!({}));
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.0"));

    let get = json!({"TableName": "orders", "Key": {"id": {"S": "o-1"}}});
    let r = call(
        &gw,
        "POST",
        "/prod/items/get",
        &json_ct,
        get.to_string().as_bytes(),
    );
    assert_ok(&r, "GetItem");
    assert_eq!(r.json(), json!({"Item": item}));

    let get = json!({"TableName": "orders", "Key": {"id": {"S": "o-2"}}});
    let r = call(
        &gw,
        "POST",
        "/prod/items/get",
        &json_ct,
        get.to_string().as_bytes(),
    );
    assert_ok(&r, "GetItem of a missing item");
    assert_eq!(r.json(), json!({}));

    // The service's error is passed through with its status.
    let put = json!({"TableName": "nope", "Item": item});
    let r = call(
        &gw,
        "POST",
        "/prod/items",
        &json_ct,
        put.to_string().as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.describe());
    assert!(
        r.body_str().contains("ResourceNotFoundException"),
        "{}",
        r.describe()
    );
}

#[test]
fn unsigned_calls_without_credentials() {
    let moto = MotoServer::start();
    moto.setup("s3", "PUT", "/public", &[], b"");
    let routes = "      - route: PUT /public/{name}
        integration:
          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:s3:path/public/{name}'
          method: PUT
          request_parameters:
            integration.request.header.x-amz-acl: \"'public-read'\"
      - route: GET /public/{name}
        integration:
          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:s3:path/public/{name}'
          method: GET";
    let aws = format!(
        "  credentials: {{from: none}}
  endpoints: {{s3: '{}'}}",
        moto.endpoint()
    );
    let gw = Gateway::start(&config(&aws, routes));
    let r = call(
        &gw,
        "PUT",
        "/prod/public/a.txt",
        &[("Content-Type", "text/plain")],
        b"anyone may read",
    );
    assert_ok(&r, "unsigned PutObject");
    let r = call(&gw, "GET", "/prod/public/a.txt", &[], b"");
    assert_ok(&r, "unsigned GetObject of a public-read object");
    assert_eq!(r.body_str(), "anyone may read");
}

// ------------------------------------------------------------------ on the wire

/// A captured request: its head's lines (request line first) and body.
fn parse(raw: &[u8]) -> (Vec<String>, Vec<u8>) {
    let end = find_subslice(raw, b"\r\n\r\n").expect("a whole head");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    (
        head.split("\r\n").map(str::to_string).collect(),
        raw[end + 4..].to_vec(),
    )
}

fn header<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines.iter().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `YYYYMMDDTHHMMSSZ`
fn is_amz_date(s: &str) -> bool {
    s.len() == 16
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 => b == b'T',
            15 => b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

#[test]
fn the_signed_request_on_the_wire() {
    let endpoint = ScriptedUpstream::start(
        b"HTTP/1.1 201 Created\r\ncontent-type: application/x-amz-json-1.0\r\nx-amz-crc32: 1\r\ncontent-length: 8\r\n\r\n{\"a\":1}\n",
        After::KeepOpen,
    );
    let url = format!("http://127.0.0.1:{}", endpoint.port);
    let secret_file = write_temp("secret", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    let routes = format!(
        "      - route: POST /items
        integration:
          type: AWS
          uri: arn:aws:apigateway:eu-west-1:dynamodb:action/PutItem
          method: POST
          request_parameters:
            integration.request.header.x-trace: method.request.header.X-Trace
            integration.request.querystring.rid: context.requestId
            integration.request.querystring.stage: stageVariables.queue
      - route: PUT /files/{{name}}
        integration:
          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:s3:path/bucket/{{name}}'
          method: PUT
      - route: POST /open
        integration:
          type: AWS
          uri: arn:aws:apigateway:us-east-1:sqs:action/SendMessage
          method: POST
          endpoint: '{url}'
          credentials: {{from: none}}"
    );
    let aws = format!(
        "  credentials:
    access_key_id: AKIDEXAMPLE
    secret_access_key_file: '{}'
  endpoints: {{dynamodb: '{url}', s3: '{url}'}}",
        secret_file.display()
    );
    let gw = Gateway::start(&config(&aws, &routes));

    // A JSON action: POST / with the target, the protocol's Content-Type, the mapping.
    let body = br#"{"TableName":"t"}"#;
    let r = call(
        &gw,
        "POST",
        "/prod/items?ignored=1",
        &[
            ("Content-Type", "application/json"),
            ("X-Trace", "t-1"),
            ("X-Other", "not sent"),
        ],
        body,
    );
    assert_eq!(r.status, 201, "the service's status: {}", r.describe());
    assert_eq!(r.body, b"{\"a\":1}\n");
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.0"));
    assert_eq!(
        r.header("x-amz-crc32"),
        None,
        "only the Content-Type is passed back"
    );
    let rid = r
        .header("x-amzn-requestid")
        .expect("request id")
        .to_string();
    let seen = endpoint.requests();
    let (lines, sent) = parse(&seen[0]);
    assert_eq!(lines[0], format!("POST /?rid={rid}&stage=orders HTTP/1.1"));
    assert_eq!(sent, body);
    assert_eq!(header(&lines, "host"), Some(&url["http://".len()..]));
    assert_eq!(
        header(&lines, "x-amz-target"),
        Some("DynamoDB_20120810.PutItem")
    );
    assert_eq!(
        header(&lines, "content-type"),
        Some("application/x-amz-json-1.0")
    );
    assert_eq!(header(&lines, "x-trace"), Some("t-1"));
    assert_eq!(
        header(&lines, "x-other"),
        None,
        "unmapped headers stay behind"
    );
    let date = header(&lines, "x-amz-date").expect("x-amz-date");
    assert!(is_amz_date(date), "{date}");
    let auth = header(&lines, "authorization").expect("authorization");
    let prefix = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{}/eu-west-1/dynamodb/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date;x-amz-target;x-trace, Signature=",
        &date[..8]
    );
    let signature = auth
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{auth:?} does not start with {prefix:?}"));
    assert!(
        signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()),
        "{signature}"
    );

    // S3: the payload's hash signed and sent.
    let r = call(
        &gw,
        "PUT",
        "/prod/files/a%20b.txt",
        &[("Content-Type", "text/plain")],
        b"abc",
    );
    assert_eq!(r.status, 201, "{}", r.describe());
    let seen = endpoint.requests();
    let (lines, sent) = parse(&seen[1]);
    assert_eq!(lines[0], "PUT /bucket/a%20b.txt HTTP/1.1");
    assert_eq!(sent, b"abc");
    assert_eq!(
        header(&lines, "x-amz-content-sha256"),
        Some(sha256_hex(b"abc").as_str())
    );
    let auth = header(&lines, "authorization").expect("authorization");
    assert!(
        auth.contains("/us-east-1/s3/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature="),
        "{auth}"
    );

    // Without credentials: no signature at all; the query protocol's form Content-Type.
    let r = call(&gw, "POST", "/prod/open", &[], b"");
    assert_eq!(r.status, 201, "{}", r.describe());
    let seen = endpoint.requests();
    let (lines, _) = parse(&seen[2]);
    assert_eq!(
        lines[0],
        "POST /?Action=SendMessage&Version=2012-11-05 HTTP/1.1"
    );
    assert_eq!(header(&lines, "authorization"), None);
    assert_eq!(header(&lines, "x-amz-date"), None);
    assert_eq!(
        header(&lines, "content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

// ------------------------------------------------------------------ failures

#[test]
fn timeouts_unreachable_services_and_bad_requests() {
    let silent = HeldUpstream::start(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    let scripted = ScriptedUpstream::start(
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        After::KeepOpen,
    );
    let dead = dead_port();
    let route = |key: &str, uri: &str, extra: &str| {
        format!(
            "      - route: {key}
        integration:
          type: AWS
          uri: '{uri}'
          method: PUT
{extra}"
        )
    };
    let routes = [
        route(
            "PUT /slow/{name}",
            "arn:aws:apigateway:us-east-1:s3:path/b/{name}",
            &format!(
                "          timeout: 300ms\n          endpoint: 'http://127.0.0.1:{}'",
                silent.port
            ),
        ),
        route(
            "PUT /dead/{name}",
            "arn:aws:apigateway:us-east-1:s3:path/b/{name}",
            &format!("          endpoint: 'http://127.0.0.1:{dead}'"),
        ),
        route(
            "PUT /b64/{name}",
            "arn:aws:apigateway:us-east-1:s3:path/b/{name}",
            &format!(
                "          content_handling: CONVERT_TO_BINARY\n          endpoint: 'http://127.0.0.1:{}'",
                scripted.port
            ),
        ),
        route(
            "PUT /unfilled",
            "arn:aws:apigateway:us-east-1:s3:path/b/{key}",
            &format!("          endpoint: 'http://127.0.0.1:{}'", scripted.port),
        ),
    ]
    .join("\n");
    let gw = Gateway::start(&config("  credentials: {from: none}", &routes));
    let text = [("Content-Type", "text/plain")];

    let started = std::time::Instant::now();
    let r = call(&gw, "PUT", "/prod/slow/x", &text, b"x");
    r.assert_gateway_error(
        504,
        "Endpoint request timed out",
        "InternalServerErrorException",
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        silent.wait_requests(1, Duration::from_secs(5)),
        "the call was made"
    );

    let failure = GatewayResponse::for_kind(ErrorKind::IntegrationFailure);
    let r = call(&gw, "PUT", "/prod/dead/x", &text, b"x");
    r.assert_gateway_error(failure.status, failure.message, failure.error_type);

    let config_error = GatewayResponse::for_kind(ErrorKind::ApiConfigurationError);
    let r = call(&gw, "PUT", "/prod/b64/x", &text, b"this is not base64!");
    r.assert_gateway_error(
        config_error.status,
        config_error.message,
        config_error.error_type,
    );
    let r = call(&gw, "PUT", "/prod/unfilled", &text, b"x");
    r.assert_gateway_error(
        config_error.status,
        config_error.message,
        config_error.error_type,
    );
    assert!(scripted.requests().is_empty(), "neither was sent");
    // A valid base64 body does go.
    let r = call(&gw, "PUT", "/prod/b64/x", &text, b"aGk=");
    assert_eq!(r.status, 200, "{}", r.describe());
    let (_, sent) = parse(&scripted.requests()[0]);
    assert_eq!(sent, b"hi");
}

/// A GET route to S3 on a stage with caching: the second GET is the stage cache's (the
/// service's response went through the response taps), so an object rewritten meanwhile
/// is still answered with the first content until the entry expires.
#[test]
fn service_responses_are_stored_in_the_stage_cache() {
    let moto = MotoServer::start();
    let (akid, secret) = moto.create_user("gateway");
    moto.setup("s3", "PUT", "/cached", &[], b"");
    let secret_file = write_temp("cache-secret", &secret);
    let routes = "      - route: PUT /files/{name}
        integration:
          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:s3:path/cached/{name}'
          method: PUT
      - route: GET /files/{name}
        integration:
          type: AWS
          uri: 'arn:aws:apigateway:us-east-1:s3:path/cached/{name}'
          method: GET
        cache_key_parameters: [method.request.path.name]";
    let aws = signed_aws(&akid, &secret_file, &moto.endpoint());
    let yaml = config(&aws, routes).replace(
        "        variables: {queue: orders}\n",
        "        variables: {queue: orders}
        cache:
          ttl: 300s
          status_header: {name: x-cache}
",
    );
    let gw = Gateway::start(&yaml);
    let text = [("Content-Type", "text/plain")];
    assert_ok(
        &call(&gw, "PUT", "/prod/files/a.txt", &text, b"first"),
        "PutObject",
    );
    let r = call(&gw, "GET", "/prod/files/a.txt", &[], b"");
    assert_ok(&r, "GetObject");
    assert_eq!(
        (r.body_str().as_str(), r.header("x-cache")),
        ("first", Some("Miss"))
    );
    assert_ok(
        &call(&gw, "PUT", "/prod/files/a.txt", &text, b"second"),
        "PutObject again",
    );
    let r = call(&gw, "GET", "/prod/files/a.txt", &[], b"");
    assert_ok(&r, "GetObject from the cache");
    assert_eq!(
        (r.body_str().as_str(), r.header("x-cache")),
        ("first", Some("Hit")),
        "{}",
        r.describe()
    );
    assert_eq!(r.header("content-type"), Some("text/plain"));
    // Another key is its own entry, fetched from the service.
    assert_ok(
        &call(&gw, "PUT", "/prod/files/b.txt", &text, b"other"),
        "PutObject b",
    );
    let r = call(&gw, "GET", "/prod/files/b.txt", &[], b"");
    assert_eq!(
        (r.body_str().as_str(), r.header("x-cache")),
        ("other", Some("Miss"))
    );
}
