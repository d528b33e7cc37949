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

/// Lines per second (per thread) that `allow_burst` lets through.
const BURST_PER_SECOND: u32 = 10;

thread_local! {
    /// (second, lines allowed in it, lines suppressed since the last allowed one)
    static BURST: std::cell::Cell<(u64, u32, u64)> = const { std::cell::Cell::new((0, 0, 0)) };
}

/// Rate limit for lines a client can cause (refused handshakes): `Some(n)` to log now,
/// `n` being how many lines this thread suppressed since it last logged; `None` to drop
/// this one. At most `BURST_PER_SECOND` lines per second per thread; no allocation, no lock.
pub fn allow_burst() -> Option<u64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    allow_burst_at(now)
}

fn allow_burst_at(now: u64) -> Option<u64> {
    BURST.with(|b| {
        let (second, count, suppressed) = b.get();
        let (second, count) = if second == now {
            (second, count)
        } else {
            (now, 0)
        };
        if count < BURST_PER_SECOND {
            b.set((second, count + 1, 0));
            Some(suppressed)
        } else {
            b.set((second, count, suppressed + 1));
            None
        }
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_limit_counts_what_it_suppresses() {
        for _ in 0..BURST_PER_SECOND {
            assert_eq!(allow_burst_at(100), Some(0));
        }
        assert_eq!(allow_burst_at(100), None);
        assert_eq!(allow_burst_at(100), None);
        // The next second lets lines through again and reports the two dropped.
        assert_eq!(allow_burst_at(101), Some(2));
        assert_eq!(allow_burst_at(101), Some(0));
    }
}
