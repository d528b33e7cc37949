//! Where execution-log text goes: `stderr` is the process log (its writer thread,
//! `observe::log`); `stdout` and each file get one writer thread of their own, shared by
//! every stage (and every reload) naming the same destination. Workers hand a request's
//! text over a bounded queue and never wait: when a writer falls behind, requests' texts
//! are dropped and counted, and the writer says how many in the process log.
//!
//! Each worker keeps its own list of the writers' queues (no lock per request); the
//! process-wide list is only locked the first time a thread meets a destination, which
//! [`prepare`] makes happen when a worker starts or reloads, not on a request.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crossbeam::channel::{bounded, Receiver, Sender, TrySendError};

use crate::config::execution_log::Destination;
use crate::config::Snapshot;
use crate::log;

/// Requests' texts queued per writer before new ones are dropped.
const QUEUE: usize = 4096;

/// Texts dropped because a writer's queue was full (reported and reset by the writers).
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Every stdout/file writer started so far (for the life of the process).
static WRITERS: Mutex<Vec<(Destination, Sender<String>)>> = Mutex::new(Vec::new());

thread_local! {
    /// This thread's copy of the writers it has used.
    static LOCAL: RefCell<Vec<(Destination, Sender<String>)>> = const { RefCell::new(Vec::new()) };
}

/// Start (or find) the writers of every destination `snapshot` names, and remember them
/// on this thread: called when a worker starts or reloads, so requests find them ready.
pub fn prepare(snapshot: &Snapshot) {
    for api in &snapshot.apis {
        for stage in api.stages.values() {
            if let Some(s) = &stage.execution_log {
                if s.destination != Destination::Stderr {
                    let _ = local(&s.destination);
                }
            }
        }
    }
}

/// Hand `text` (a request's lines) to the writer of `dest`, never waiting.
pub fn send(dest: &Destination, text: String) {
    if *dest == Destination::Stderr {
        crate::observe::log::line(text);
        return;
    }
    match local(dest).try_send(text) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The queue of `dest`'s writer, from this thread's list (or the process's, once).
fn local(dest: &Destination) -> Sender<String> {
    LOCAL.with(|l| {
        if let Some((_, tx)) = l.borrow().iter().find(|(d, _)| d == dest) {
            return tx.clone();
        }
        let tx = writer(dest);
        l.borrow_mut().push((dest.clone(), tx.clone()));
        tx
    })
}

/// The writer of `dest`, started if there is none yet.
fn writer(dest: &Destination) -> Sender<String> {
    let mut all = WRITERS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, tx)) = all.iter().find(|(d, _)| d == dest) {
        return tx.clone();
    }
    let (tx, rx) = bounded::<String>(QUEUE);
    let target = dest.clone();
    let spawned = std::thread::Builder::new()
        .name("tollgate-execlog".into())
        .spawn(move || write_loop(&target, &rx));
    if let Err(e) = spawned {
        log!("execution log: cannot start a writer thread ({e}); its lines are dropped");
    }
    all.push((dest.clone(), tx.clone()));
    tx
}

fn write_loop(dest: &Destination, rx: &Receiver<String>) {
    let out: Box<dyn Write> = match dest {
        Destination::File(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => Box::new(f),
            Err(e) => {
                log!(
                    "execution log: cannot open {}: {e}; its lines are dropped",
                    path.display()
                );
                while rx.recv().is_ok() {}
                return;
            }
        },
        Destination::Stdout | Destination::Stderr => Box::new(std::io::stdout()),
    };
    let mut out = std::io::BufWriter::new(out);
    let mut failed = false;
    while let Ok(text) = rx.recv() {
        let mut result = writeln!(out, "{text}");
        // Everything queued meanwhile goes in the same write.
        while let Ok(more) = rx.try_recv() {
            result = result.and_then(|()| writeln!(out, "{more}"));
        }
        result = result.and_then(|()| out.flush());
        match result {
            Err(e) if !failed => {
                log!("execution log: writing failed ({e}); lines are lost until it works");
                failed = true;
            }
            Err(_) => {}
            Ok(()) => failed = false,
        }
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            log!("execution log: {dropped} requests' lines dropped (a writer fell behind)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_destination_gets_every_text_as_lines() {
        let path =
            std::env::temp_dir().join(format!("tollgate-execlog-sink-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let dest = Destination::File(path.clone());
        send(&dest, "(a) one\n(a) two".into());
        send(&dest, "(b) three".into());
        let mut text = String::new();
        for _ in 0..500 {
            text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.lines().count() >= 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = std::fs::remove_file(&path);
        assert_eq!(text, "(a) one\n(a) two\n(b) three\n");
        // The same destination is one writer, also from another thread.
        let other = std::thread::spawn(move || {
            local(&dest);
        });
        assert!(other.join().is_ok());
        let all = WRITERS.lock().unwrap_or_else(|p| p.into_inner());
        let same = all
            .iter()
            .filter(|(d, _)| *d == Destination::File(path.clone()))
            .count();
        assert_eq!(same, 1);
    }
}
