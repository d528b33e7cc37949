//! `POST /reload`: the typed request the admin thread sends to the supervisor, and the
//! outcome it answers with (rendered as JSON).

use std::path::PathBuf;
use std::time::Duration;

use crossbeam::channel::{bounded, RecvTimeoutError, Sender};
use serde_json::json;

use super::reply::Reply;
use crate::config::ConfigError;

/// How long `POST /reload` waits for the supervisor's answer.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// A request from the admin thread to the supervisor thread.
#[derive(Debug)]
pub enum SupervisorRequest {
    /// Reload the configuration (as SIGHUP does) and send the outcome back on `reply`.
    Reload { reply: Sender<ReloadOutcome> },
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The new configuration is in force; `notes` say what carried over or did not apply.
    Reloaded { source: PathBuf, notes: Vec<String> },
    /// Refused: the running configuration stays in force. `status` is 400 for an invalid
    /// file, 409 for a valid file that a reload cannot apply (listeners changed).
    Refused {
        status: u16,
        errors: Vec<ReloadError>,
    },
}

/// One reason a reload was refused: the file, the key path (empty for the whole file) and
/// why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

impl From<&ConfigError> for ReloadError {
    fn from(e: &ConfigError) -> Self {
        ReloadError {
            file: e.file.display().to_string(),
            key: e.path.clone(),
            reason: e.reason.clone(),
        }
    }
}

impl ReloadOutcome {
    /// The outcome as the admin API answers it.
    pub fn reply(&self) -> Reply {
        match self {
            ReloadOutcome::Reloaded { source, notes } => Reply::json(
                200,
                &json!({
                    "reloaded": true,
                    "source": source.display().to_string(),
                    "notes": notes,
                }),
            ),
            ReloadOutcome::Refused { status, errors } => Reply::json(
                *status,
                &json!({
                    "reloaded": false,
                    "message": format!(
                        "reload refused ({} error(s)); the running configuration stays in force",
                        errors.len()
                    ),
                    "errors": errors
                        .iter()
                        .map(|e| json!({"file": e.file, "key": e.key, "reason": e.reason}))
                        .collect::<Vec<_>>(),
                }),
            ),
        }
    }
}

/// Ask the supervisor (through `to_supervisor`) to reload, and wait for its answer.
pub fn request_reload(to_supervisor: &Sender<SupervisorRequest>, wait: Duration) -> Reply {
    let (tx, rx) = bounded(1);
    if to_supervisor
        .send(SupervisorRequest::Reload { reply: tx })
        .is_err()
    {
        return Reply::message(503, "the gateway is stopping; no reload");
    }
    match rx.recv_timeout(wait) {
        Ok(outcome) => outcome.reply(),
        Err(RecvTimeoutError::Timeout) => Reply::message(
            504,
            &format!(
                "the reload did not finish within {}s; see the process log for its outcome",
                wait.as_secs()
            ),
        ),
        Err(RecvTimeoutError::Disconnected) => {
            Reply::message(503, "the gateway is stopping; no reload")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &Reply) -> serde_json::Value {
        serde_json::from_str(&r.body).expect("json")
    }

    #[test]
    fn outcomes_render_as_json() {
        let ok = ReloadOutcome::Reloaded {
            source: PathBuf::from("/etc/tollgate.yaml"),
            notes: vec!["kept the cache of 1 stage(s)".into()],
        }
        .reply();
        assert_eq!(ok.status, 200);
        let v = body(&ok);
        assert_eq!(v["reloaded"], true);
        assert_eq!(v["source"], "/etc/tollgate.yaml");
        assert_eq!(v["notes"][0], "kept the cache of 1 stage(s)");
        let bad = ReloadOutcome::Refused {
            status: 400,
            errors: vec![ReloadError {
                file: "g.yaml".into(),
                key: "apis[0].routes[0].route".into(),
                reason: "bad \"route\"".into(),
            }],
        }
        .reply();
        assert_eq!(bad.status, 400);
        let v = body(&bad);
        assert_eq!(v["reloaded"], false);
        assert!(v["message"]
            .as_str()
            .is_some_and(|m| m.contains("1 error(s)")));
        assert_eq!(v["errors"][0]["file"], "g.yaml");
        assert_eq!(v["errors"][0]["key"], "apis[0].routes[0].route");
        assert_eq!(v["errors"][0]["reason"], "bad \"route\"");
    }

    #[test]
    fn the_supervisor_answers_or_the_request_fails_with_a_message() {
        let (tx, rx) = crossbeam::channel::unbounded();
        let supervisor = std::thread::spawn(move || {
            if let Ok(SupervisorRequest::Reload { reply }) = rx.recv() {
                let _ = reply.send(ReloadOutcome::Reloaded {
                    source: "c.yaml".into(),
                    notes: Vec::new(),
                });
            }
            // Then it stops: its receiver is gone.
        });
        let r = request_reload(&tx, RELOAD_TIMEOUT);
        assert_eq!((r.status, body(&r)["reloaded"].clone()), (200, json!(true)));
        supervisor.join().expect("supervisor");
        let r = request_reload(&tx, RELOAD_TIMEOUT);
        assert_eq!(r.status, 503, "{}", r.body);
        // A supervisor that takes the request and never answers: the wait is bounded.
        let (tx, rx) = crossbeam::channel::unbounded();
        let r = request_reload(&tx, Duration::from_millis(1));
        assert_eq!(r.status, 504, "{}", r.body);
        assert!(body(&r)["message"].as_str().is_some());
        drop(rx);
    }
}
