//! Process log lines go to one dedicated writer thread, so a worker never blocks on
//! stderr or a file. `log!(...)` formats on the caller and hands the line over a channel.

use std::io::Write;
use std::sync::OnceLock;

use crossbeam::channel::{unbounded, Sender};

static LOG: OnceLock<Sender<String>> = OnceLock::new();

/// Start the writer thread (idempotent). Lines are written to stderr, one per message.
pub fn init() {
    LOG.get_or_init(|| {
        let (tx, rx) = unbounded::<String>();
        let spawned = std::thread::Builder::new()
            .name("tollgate-log".into())
            .spawn(move || {
                let stderr = std::io::stderr();
                for line in rx {
                    let mut lock = stderr.lock();
                    let _ = writeln!(lock, "{line}");
                }
            });
        if spawned.is_err() {
            eprintln!("tollgate: could not start the log thread; logging to stderr directly");
        }
        tx
    });
}

/// Send one line to the log thread (or straight to stderr before `init`).
pub fn line(msg: String) {
    match LOG.get() {
        Some(tx) => {
            if let Err(unsent) = tx.send(msg) {
                eprintln!("{}", unsent.0);
            }
        }
        None => eprintln!("{msg}"),
    }
}

/// Block until the log thread has written what was sent so far (shutdown only).
pub fn flush() {
    if let Some(tx) = LOG.get() {
        for _ in 0..200 {
            if tx.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // The writer may still be writing the last line it took.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// `log!("worker {} started", id)`: one line to the log thread, prefixed `tollgate:`.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::observe::log::line(format!("tollgate: {}", format_args!($($arg)*)))
    };
}
