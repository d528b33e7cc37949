//! The access log writer: one dedicated thread per process writes the lines every worker
//! renders, so a worker never blocks on a disk, a pipe or stdout.
//!
//! - A worker appends each line to its own buffer for the line's destination
//!   ([`WorkerLog`]; a reused `Vec<u8>`, no allocation per line in the steady state) and
//!   hands full buffers (and, every [`FLUSH_INTERVAL`], whatever it has) to the writer over
//!   one bounded channel, taking empty buffers back from a free list the writer refills.
//! - When the channel is full (the writer is behind or its destination blocks), the worker
//!   drops the buffer's lines and counts them in its own counter (single writer: a relaxed
//!   load and store, no shared read-modify-write): requests never wait.
//!   [`lines_dropped`] sums the counters; a monitor thread logs
//!   `access log: N line(s) dropped` once a second while lines are being dropped.
//! - Destinations (a file opened for appending, or stdout) are [`Sink`]s shared by every
//!   stage and worker that names them: one writer per destination. A file is reopened on
//!   [`reopen`] (SIGUSR1: logrotate renames the file, then signals); a sink no worker holds
//!   any more (after a reload) is closed after a grace period.
//!
//! This module knows nothing of the configuration or the pipeline: the pipeline renders
//! lines into the buffers.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, select, unbounded, Receiver, Sender, TrySendError};

use crate::log;

/// Where access log lines go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Destination {
    Stdout,
    /// A file, opened for appending (created if absent).
    File(PathBuf),
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Stdout => f.write_str("stdout"),
            Destination::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A worker hands a buffer over once it holds this much.
pub const HANDOVER_BYTES: usize = 48 * 1024;
/// Capacity of a buffer (room for the last line past `HANDOVER_BYTES`).
pub const BUFFER_BYTES: usize = 64 * 1024;
/// Buffers waiting for the writer, over all workers; more and lines are dropped.
pub const QUEUE_BUFFERS: usize = 64;
/// Empty buffers a worker puts on the free list for each destination it starts using.
const SPARE_BUFFERS: usize = 8;
/// A worker hands over what it has at least this often (a quiet gateway's lines appear
/// promptly).
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// How long a destination no stage uses any more stays open (lines a worker flushed
/// just before a reload still reach it).
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Failed opens are retried this often (and on `reopen`).
const RETRY_OPEN: Duration = Duration::from_secs(5);

/// One destination, shared by the workers writing to it. Dropping the last handle closes it
/// (after a grace period).
#[derive(Debug)]
pub struct Sink {
    id: u32,
    destination: Destination,
}

impl Sink {
    pub fn destination(&self) -> &Destination {
        &self.destination
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(hub) = HUB.get() {
            let _ = hub.control.send(Control::Close(self.id));
        }
    }
}

enum Control {
    Open(u32, Destination),
    Close(u32),
    Reopen,
    /// Answered once everything received before it is written.
    Sync(Sender<()>),
}

struct Batch {
    sink: u32,
    lines: u64,
    buf: Vec<u8>,
}

struct Hub {
    lines: Sender<Batch>,
    control: Sender<Control>,
    free: Receiver<Vec<u8>>,
    free_tx: Sender<Vec<u8>>,
    sinks: Mutex<SinkTable>,
    /// Every worker's drop counter (each written by its worker only).
    counters: Mutex<Vec<Arc<AtomicU64>>>,
    /// Lines the writer could not write (destination failing), written by the writer only.
    writer_dropped: AtomicU64,
}

#[derive(Default)]
struct SinkTable {
    next: u32,
    by_destination: HashMap<Destination, Weak<Sink>>,
}

static HUB: OnceLock<Hub> = OnceLock::new();

fn hub() -> &'static Hub {
    HUB.get_or_init(|| {
        let (lines, lines_rx) = bounded(QUEUE_BUFFERS);
        let (control, control_rx) = unbounded();
        let (free_tx, free) = bounded(QUEUE_BUFFERS * 2);
        let free_back = free_tx.clone();
        let spawned = std::thread::Builder::new()
            .name("tollgate-access-log".into())
            .spawn(move || Writer::default().run(lines_rx, control_rx, free_back));
        if let Err(e) = spawned {
            log!("access log: the writer thread could not start: {e}; lines are dropped");
        }
        let monitor = std::thread::Builder::new()
            .name("tollgate-access-log-monitor".into())
            .spawn(monitor);
        if let Err(e) = monitor {
            log!("access log: the drop monitor could not start: {e}");
        }
        Hub {
            lines,
            control,
            free,
            free_tx,
            sinks: Mutex::default(),
            counters: Mutex::default(),
            writer_dropped: AtomicU64::new(0),
        }
    })
}

/// The sink writing to `destination`, shared with every other holder of the same one
/// (started on first use: the writer opens the file, off the caller's thread).
pub fn sink(destination: &Destination) -> Arc<Sink> {
    let hub = hub();
    let mut table = hub.sinks.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = table
        .by_destination
        .get(destination)
        .and_then(Weak::upgrade)
    {
        return s;
    }
    table.by_destination.retain(|_, w| w.strong_count() > 0);
    let id = table.next;
    table.next = table.next.wrapping_add(1);
    let s = Arc::new(Sink {
        id,
        destination: destination.clone(),
    });
    table
        .by_destination
        .insert(destination.clone(), Arc::downgrade(&s));
    let _ = hub.control.send(Control::Open(id, destination.clone()));
    s
}

/// Reopen every file destination (SIGUSR1, after logrotate moved the files).
pub fn reopen() {
    if let Some(hub) = HUB.get() {
        let _ = hub.control.send(Control::Reopen);
    }
}

/// Access log lines dropped so far (writer behind, destination failing), over all workers.
pub fn lines_dropped() -> u64 {
    let Some(hub) = HUB.get() else { return 0 };
    let workers: u64 = hub
        .counters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum();
    workers + hub.writer_dropped.load(Ordering::Relaxed)
}

/// Wait (up to `timeout`) until the writer has written every buffer handed over so far
/// (shutdown, tests).
pub fn flush(timeout: Duration) {
    let Some(hub) = HUB.get() else { return };
    let deadline = Instant::now() + timeout;
    while !hub.lines.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let (tx, rx) = bounded(1);
    if hub.control.send(Control::Sync(tx)).is_ok() {
        let _ = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

fn monitor() {
    let mut reported = 0;
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let total = lines_dropped();
        if total > reported {
            log!(
                "access log: {} line(s) dropped (the writer is behind or a destination is failing; {total} in total)",
                total - reported
            );
            reported = total;
        }
    }
}

/// A worker's side: one buffer per destination its stages log to.
pub struct WorkerLog {
    slots: Vec<Slot>,
    /// Lines this worker dropped (written by this worker only).
    dropped: Arc<AtomicU64>,
    last_flush: Instant,
}

struct Slot {
    sink: Arc<Sink>,
    buf: Vec<u8>,
    lines: u64,
}

impl Default for WorkerLog {
    fn default() -> Self {
        WorkerLog {
            slots: Vec::new(),
            dropped: Arc::new(AtomicU64::new(0)),
            last_flush: Instant::now(),
        }
    }
}

impl WorkerLog {
    /// Use `destinations` from now on (slot `i` is `destinations[i]`): buffers of
    /// destinations kept stay, the others are handed over and their sinks released.
    pub fn set_destinations(&mut self, destinations: &[Destination]) {
        if destinations.is_empty() && self.slots.is_empty() {
            return;
        }
        let hub = hub();
        {
            let mut counters = hub.counters.lock().unwrap_or_else(|p| p.into_inner());
            if !counters.iter().any(|c| Arc::ptr_eq(c, &self.dropped)) {
                counters.push(self.dropped.clone());
            }
        }
        let mut old = std::mem::take(&mut self.slots);
        for d in destinations {
            match old.iter().position(|s| s.sink.destination() == d) {
                Some(i) => self.slots.push(old.swap_remove(i)),
                None => {
                    // Buffers for the new destination, made now rather than on a request
                    // (enough that a writer briefly behind does not make a worker allocate).
                    for _ in 0..SPARE_BUFFERS {
                        let _ = hub.free_tx.try_send(Vec::with_capacity(BUFFER_BYTES));
                    }
                    self.slots.push(Slot {
                        sink: sink(d),
                        buf: take_buffer(hub),
                        lines: 0,
                    });
                }
            }
        }
        for mut s in old {
            hand_over(&self.dropped, &mut s);
        }
    }

    /// The slot of `destination`, if this worker writes to it.
    pub fn slot(&self, destination: &Destination) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.sink.destination() == destination)
    }

    /// The buffer to append one line to (then call [`line_written`](Self::line_written)).
    pub fn buffer(&mut self, slot: usize) -> Option<&mut Vec<u8>> {
        self.slots.get_mut(slot).map(|s| &mut s.buf)
    }

    /// A line (ending with `\n`) was appended to `slot`'s buffer: hand the buffer over if
    /// it is full.
    pub fn line_written(&mut self, slot: usize) {
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        s.lines += 1;
        if s.buf.len() >= HANDOVER_BYTES {
            hand_over(&self.dropped, s);
        }
    }

    /// Hand over what the buffers hold if `FLUSH_INTERVAL` passed since the last time.
    pub fn tick(&mut self, now: Instant) {
        if now.saturating_duration_since(self.last_flush) >= FLUSH_INTERVAL {
            self.flush();
            self.last_flush = now;
        }
    }

    /// Hand over every non-empty buffer now.
    pub fn flush(&mut self) {
        for s in &mut self.slots {
            hand_over(&self.dropped, s);
        }
    }

    /// Lines this worker dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Send `s`'s buffer to the writer (leaving an empty one in its place), or drop its lines
/// (counted in `dropped`) if the writer's queue is full.
fn hand_over(dropped: &AtomicU64, s: &mut Slot) {
    if s.buf.is_empty() {
        return;
    }
    let Some(hub) = HUB.get() else { return };
    let batch = Batch {
        sink: s.sink.id,
        lines: s.lines,
        buf: std::mem::replace(&mut s.buf, take_buffer(hub)),
    };
    s.lines = 0;
    if let Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) = hub.lines.try_send(batch) {
        dropped.store(dropped.load(Ordering::Relaxed) + b.lines, Ordering::Relaxed);
        // Keep the buffer for the next lines.
        let mut buf = b.buf;
        buf.clear();
        let spare = std::mem::replace(&mut s.buf, buf);
        let _ = hub.free_tx.try_send(spare);
    }
}

impl Drop for WorkerLog {
    fn drop(&mut self) {
        self.flush();
    }
}

/// An empty buffer from the free list (allocated only when none is free).
fn take_buffer(hub: &Hub) -> Vec<u8> {
    hub.free
        .try_recv()
        .unwrap_or_else(|_| Vec::with_capacity(BUFFER_BYTES))
}

enum Output {
    Stdout,
    File(File),
    /// Opening failed (when, to retry later).
    Failed(Instant),
}

struct Open {
    destination: Destination,
    output: Output,
    /// Released by every worker (when): closed after the grace period.
    closing: Option<Instant>,
}

#[derive(Default)]
struct Writer {
    open: HashMap<u32, Open>,
}

impl Writer {
    fn run(mut self, lines: Receiver<Batch>, control: Receiver<Control>, free: Sender<Vec<u8>>) {
        let mut dropped = 0u64;
        loop {
            while let Ok(c) = control.try_recv() {
                self.control(c);
            }
            select! {
                recv(control) -> c => match c {
                    Ok(c) => self.control(c),
                    Err(_) => return,
                },
                recv(lines) -> b => match b {
                    Ok(mut b) => {
                        // An open sent before the lines may still be queued.
                        if !self.open.contains_key(&b.sink) {
                            while let Ok(c) = control.try_recv() {
                                self.control(c);
                            }
                        }
                        if !self.write(&b) {
                            dropped += b.lines;
                            if let Some(hub) = HUB.get() {
                                hub.writer_dropped.store(dropped, Ordering::Relaxed);
                            }
                        }
                        b.buf.clear();
                        let _ = free.try_send(b.buf);
                    }
                    Err(_) => return,
                },
                default(Duration::from_millis(500)) => {}
            }
            self.close_released();
        }
    }

    fn control(&mut self, c: Control) {
        match c {
            Control::Open(id, destination) => {
                let output = open(&destination);
                self.open.insert(
                    id,
                    Open {
                        destination,
                        output,
                        closing: None,
                    },
                );
            }
            Control::Close(id) => {
                if let Some(o) = self.open.get_mut(&id) {
                    o.closing = Some(Instant::now());
                }
            }
            Control::Reopen => {
                let mut n = 0;
                for o in self.open.values_mut() {
                    if let Destination::File(_) = o.destination {
                        o.output = open(&o.destination);
                        n += 1;
                    }
                }
                log!("access log: reopened {n} file(s)");
            }
            Control::Sync(done) => {
                let _ = done.send(());
            }
        }
    }

    /// Write one batch; false if its lines were lost.
    fn write(&mut self, b: &Batch) -> bool {
        let Some(o) = self.open.get_mut(&b.sink) else {
            return false;
        };
        if let Output::Failed(at) = o.output {
            if at.elapsed() < RETRY_OPEN {
                return false;
            }
            o.output = open(&o.destination);
        }
        let result = match &mut o.output {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&b.buf).and_then(|_| out.flush())
            }
            Output::File(f) => f.write_all(&b.buf),
            Output::Failed(_) => return false,
        };
        match result {
            Ok(()) => true,
            Err(e) => {
                log!("access log: writing to {} failed: {e}", o.destination);
                o.output = Output::Failed(Instant::now());
                false
            }
        }
    }

    fn close_released(&mut self) {
        self.open
            .retain(|_, o| o.closing.is_none_or(|t| t.elapsed() < CLOSE_GRACE));
    }
}

fn open(destination: &Destination) -> Output {
    match destination {
        Destination::Stdout => Output::Stdout,
        Destination::File(path) => {
            match std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
            {
                Ok(f) => Output::File(f),
                Err(e) => {
                    log!("access log: cannot open {}: {e}", path.display());
                    Output::Failed(Instant::now())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "tollgate-access-log-unit-{}-{name}",
            std::process::id()
        ))
    }

    fn append(log: &mut WorkerLog, slot: usize, line: &str) {
        let buf = log.buffer(slot).expect("slot");
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        log.line_written(slot);
    }

    #[test]
    fn lines_reach_the_file_and_shared_destinations_share_a_sink() {
        let path = temp_path("shared");
        let _ = std::fs::remove_file(&path);
        let dest = Destination::File(path.clone());
        let a = sink(&dest);
        let b = sink(&dest);
        assert!(Arc::ptr_eq(&a, &b), "one sink per destination");
        let mut w1 = WorkerLog::default();
        let mut w2 = WorkerLog::default();
        w1.set_destinations(std::slice::from_ref(&dest));
        w2.set_destinations(std::slice::from_ref(&dest));
        assert_eq!(w1.slot(&dest), Some(0));
        assert_eq!(w1.slot(&Destination::Stdout), None);
        append(&mut w1, 0, "one");
        append(&mut w2, 0, "two");
        w1.flush();
        w2.flush();
        flush(Duration::from_secs(5));
        let text = std::fs::read_to_string(&path).expect("log file");
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort();
        assert_eq!(lines, ["one", "two"]);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_writer_closes_a_released_destination_after_the_grace_period() {
        let path = temp_path("grace");
        let _ = std::fs::remove_file(&path);
        let mut w = Writer::default();
        w.control(Control::Open(7, Destination::File(path.clone())));
        let batch = |sink| Batch {
            sink,
            lines: 1,
            buf: b"line\n".to_vec(),
        };
        assert!(w.write(&batch(7)));
        assert!(!w.write(&batch(8)), "an unknown sink loses its lines");
        w.control(Control::Close(7));
        w.close_released();
        assert!(w.write(&batch(7)), "still open during the grace period");
        if let Some(o) = w.open.get_mut(&7) {
            o.closing = Instant::now().checked_sub(CLOSE_GRACE);
        }
        w.close_released();
        assert!(w.open.is_empty());
        assert_eq!(
            std::fs::read_to_string(&path).expect("file"),
            "line\nline\n"
        );
        let _ = std::fs::remove_file(&path);
        // A file that cannot be opened: its lines are lost (and counted by the caller).
        w.control(Control::Open(
            9,
            Destination::File(temp_path("no-dir").join("x.log")),
        ));
        assert!(!w.write(&batch(9)));
    }

    #[test]
    fn a_full_buffer_is_handed_over_without_a_flush() {
        let path = temp_path("full");
        let _ = std::fs::remove_file(&path);
        let dest = Destination::File(path.clone());
        let mut w = WorkerLog::default();
        w.set_destinations(std::slice::from_ref(&dest));
        let line = "x".repeat(1000);
        let n = HANDOVER_BYTES / 1001 + 1;
        for _ in 0..n {
            append(&mut w, 0, &line);
        }
        assert!(w.buffer(0).expect("slot").is_empty(), "handed over");
        flush(Duration::from_secs(5));
        let text = std::fs::read_to_string(&path).expect("log file");
        assert_eq!(text.lines().count(), n);
        // A tick before the interval keeps a partial buffer; after it, hands it over.
        append(&mut w, 0, "late");
        w.last_flush = Instant::now();
        w.tick(Instant::now());
        assert!(!w.buffer(0).expect("slot").is_empty());
        w.tick(Instant::now() + FLUSH_INTERVAL);
        assert!(w.buffer(0).expect("slot").is_empty());
        flush(Duration::from_secs(5));
        let text = std::fs::read_to_string(&path).expect("log file");
        assert_eq!(text.lines().last(), Some("late"));
        drop(w);
        let _ = std::fs::remove_file(&path);
    }
}
