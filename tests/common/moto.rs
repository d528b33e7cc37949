//! moto's server mode (a local stand-in for SQS, S3, DynamoDB, IAM...) for the AWS service
//! integration tests: [`MotoServer::start`] runs it on 127.0.0.1 with an ephemeral port from
//! the virtual environment `make test-deps` installs (target/moto-venv), waits until it
//! answers, and kills it on drop. A missing installation fails the test, naming the target
//! that installs it.
//!
//! moto accepts any request unless told to check signatures: [`MotoServer::create_user`]
//! makes an IAM user with keys and an allow-all policy, [`MotoServer::check_signatures`]
//! then switches moto to verifying every SigV4 signature (and the caller's permissions)
//! from the next request on. Set-up calls made before that carry a placeholder
//! `Authorization` header only to tell moto which service they are for.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{manifest_dir, Client, Proc, Response};

/// How long moto may take to import and listen (it is a large Python package; a loaded
/// 2-core machine needs several seconds).
const MOTO_START: Duration = Duration::from_secs(90);

/// Started by the venv's Python: moto's threaded server on an ephemeral loopback port,
/// printing the port, then waiting to be killed.
const SCRIPT: &str = "
import threading
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)
server.start()
print('moto listening', server.get_host_and_port()[1], flush=True)
threading.Event().wait()
";

/// moto's account for every key it does not know.
pub const ACCOUNT: &str = "123456789012";

pub struct MotoServer {
    pub port: u16,
    // Killed (and reaped) on drop.
    proc: Proc,
}

/// The virtual environment's Python, when moto's server is installed there.
fn venv_python() -> PathBuf {
    let venv = manifest_dir().join("target/moto-venv");
    let server = venv.join("bin/moto_server");
    let python = venv.join("bin/python");
    assert!(
        server.is_file() && python.is_file(),
        "moto's server is not installed ({} is missing): run `make test-deps` \
         (it installs moto[server] into target/moto-venv)",
        server.display()
    );
    python
}

impl MotoServer {
    pub fn start() -> MotoServer {
        let python = venv_python();
        let mut proc = Proc::spawn_program(
            "moto",
            python.to_str().expect("utf-8 path"),
            &["-c", SCRIPT],
        );
        let deadline = Instant::now() + MOTO_START;
        let port = loop {
            match proc.next_line(deadline) {
                Some(line) => {
                    if let Some(p) = line.strip_prefix("moto listening ") {
                        break p
                            .trim()
                            .parse::<u16>()
                            .unwrap_or_else(|_| panic!("bad moto line {line:?}"));
                    }
                }
                None => panic!(
                    "moto did not start within {MOTO_START:?} (run `make test-deps` if its \
                     installation is broken); stderr:\n{}",
                    proc.stderr()
                ),
            }
        };
        let moto = MotoServer { port, proc };
        // It listens once it printed; make sure it answers.
        let r = moto.request("GET", "/moto-api/data.json", &[], b"");
        assert_eq!(r.status, 200, "moto answers: {}", r.describe());
        moto
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What moto wrote to stderr (its log).
    pub fn stderr(&self) -> String {
        self.proc.stderr()
    }

    /// One request to moto as it is (no signature).
    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let host = format!("127.0.0.1:{}", self.port);
        let mut all: Vec<(&str, &str)> = vec![("Host", host.as_str())];
        all.extend_from_slice(headers);
        let mut bytes = format!("{method} {target} HTTP/1.1\r\n");
        for (n, v) in &all {
            bytes.push_str(&format!("{n}: {v}\r\n"));
        }
        bytes.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = bytes.into_bytes();
        bytes.extend_from_slice(body);
        let mut c = Client::connect(self.port);
        c.request(&bytes)
    }

    /// A set-up call to `service` (before [`check_signatures`](Self::check_signatures)):
    /// the placeholder signature names the service and region for moto's routing.
    pub fn setup(
        &self,
        service: &str,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIASETUPSETUPSETUP1/20250101/us-east-1/{service}/aws4_request, \
             SignedHeaders=host, Signature=0000"
        );
        let mut all: Vec<(&str, &str)> = vec![("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        let r = self.request(method, target, &all, body);
        assert!(
            (200..300).contains(&r.status),
            "moto set-up {service} {method} {target}: {}",
            r.describe()
        );
        r
    }

    /// A query-protocol set-up call (`Action=...` form body).
    pub fn setup_action(&self, service: &str, form: &str) -> Response {
        self.setup(
            service,
            "POST",
            "/",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        )
    }

    /// An IAM user with an access key and an allow-all inline policy: (key id, secret).
    pub fn create_user(&self, name: &str) -> (String, String) {
        self.setup_action(
            "iam",
            &format!("Action=CreateUser&Version=2010-05-08&UserName={name}"),
        );
        let policy = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";
        self.setup_action(
            "iam",
            &format!(
                "Action=PutUserPolicy&Version=2010-05-08&UserName={name}&PolicyName=all&PolicyDocument={policy}"
            ),
        );
        let r = self.setup_action(
            "iam",
            &format!("Action=CreateAccessKey&Version=2010-05-08&UserName={name}"),
        );
        let xml = r.body_str();
        let id = xml_text(&xml, "AccessKeyId").unwrap_or_else(|| panic!("no AccessKeyId in {xml}"));
        let secret = xml_text(&xml, "SecretAccessKey")
            .unwrap_or_else(|| panic!("no SecretAccessKey in {xml}"));
        (id, secret)
    }

    /// From the next request on, moto verifies every signature and permission.
    pub fn check_signatures(&self) {
        let r = self.request("POST", "/moto-api/reset-auth", &[], b"0");
        assert_eq!(r.status, 200, "reset-auth: {}", r.describe());
    }
}

/// The text of the first `<tag>...</tag>` in `xml`.
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    Some(xml[start..start + len].to_string())
}
