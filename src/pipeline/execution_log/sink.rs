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

/// Bumped by [`reopen_files`]: file writers reopen their file before their next write.
static REOPEN: AtomicU64 = AtomicU64::new(0);

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

/// Have every execution-log file reopened before its next write (after logrotate renamed
/// it; SIGUSR1, with the access-log files).
pub fn reopen_files() {
    REOPEN.fetch_add(1, Ordering::Relaxed);
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

fn open(path: &std::path::Path) -> Option<std::fs::File> {
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        Ok(f) => Some(f),
        Err(e) => {
            log!(
                "execution log: cannot open {}: {e}; its lines are dropped (until a reopen, SIGUSR1)",
                path.display()
            );
            None
        }
    }
}

fn write_loop(dest: &Destination, rx: &Receiver<String>) {
    let path = match dest {
        Destination::File(path) => Some(path.as_path()),
        Destination::Stdout | Destination::Stderr => None,
    };
    let mut generation = REOPEN.load(Ordering::Relaxed);
    let mut file = path.and_then(open);
    let mut batch: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut failed = false;
    while let Ok(text) = rx.recv() {
        // Everything queued meanwhile goes in the same write: whole lines only, so that
        // another writer of the same stdout (or an O_APPEND file) never splits one.
        batch.clear();
        batch.extend_from_slice(text.as_bytes());
        batch.push(b'\n');
        while let Ok(more) = rx.try_recv() {
            batch.extend_from_slice(more.as_bytes());
            batch.push(b'\n');
        }
        let now = REOPEN.load(Ordering::Relaxed);
        if let Some(path) = path.filter(|_| now != generation) {
            generation = now;
            file = open(path);
        }
        let result = match (file.as_mut(), path) {
            (Some(f), _) => f.write_all(&batch),
            // The file could not be opened: the batch is dropped (and said once).
            (None, Some(_)) => Ok(()),
            (None, None) => {
                let mut out = std::io::stdout().lock();
                out.write_all(&batch).and_then(|()| out.flush())
            }
        };
        match result {
            Err(e) if !failed => {
                log!("execution log: writing failed ({e}); lines are lost until it works");
                failed = true;
            }
            Err(_) => {}
            Ok(()) => failed = false,
        }
        if batch.capacity() > 1 << 20 {
            batch = Vec::with_capacity(64 * 1024);
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

    #[test]
    fn a_reopen_moves_the_next_lines_to_a_new_file_of_the_same_name() {
        let path = std::env::temp_dir().join(format!(
            "tollgate-execlog-reopen-{}.log",
            std::process::id()
        ));
        let rotated = path.with_extension("log.1");
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&rotated);
        let dest = Destination::File(path.clone());
        let wait_for = |p: &std::path::Path, text: &str| {
            for _ in 0..500 {
                if std::fs::read_to_string(p).unwrap_or_default() == text {
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            false
        };
        send(&dest, "before".into());
        assert!(wait_for(&path, "before\n"));
        std::fs::rename(&path, &rotated).expect("rotate");
        reopen_files();
        send(&dest, "after".into());
        let moved = wait_for(&path, "after\n");
        let old = std::fs::read_to_string(&rotated).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&rotated);
        assert!(moved, "the new file did not get the line");
        assert_eq!(old, "before\n");
    }
}
