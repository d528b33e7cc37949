//! One deadline per connection state instead of a timer per I/O operation.
//!
//! `monoio::time::timeout` creates a timer entry for every operation it wraps: it reads the
//! clock, inserts the entry into the time wheel, polls it and removes it again when the
//! operation ends first (the usual case). A [`Deadline`] keeps ONE alarm (a monoio `Sleep`)
//! for the life of its connection and lets every operation race it:
//!
//! - the deadline itself is a field ([`Deadline::set`]); moving it later is a write, nothing
//!   more;
//! - the alarm is re-armed only when it rings before the deadline (the deadline moved later
//!   since it was armed: it is then set to the current deadline and waited for again) or when
//!   the deadline moved earlier than the alarm (checked when an operation next waits);
//! - when another task than the last waits on the deadline (a pooled upstream connection
//!   changing hands), the alarm is replaced in place, so that task is the one woken;
//! - an operation that completes on its first poll never looks at the alarm or the clock;
//!   [`Deadline::within`] (a bound from the operation's start) reads the clock only when the
//!   operation has to wait.
//!
//! Timing is exactly that of `timeout_at(deadline, op)`: an operation fails with
//! [`Elapsed`] once the deadline in force while it waits has passed (monoio's timer
//! granularity, 1 ms, applies to both), never earlier. An alarm that rings while no
//! operation waits merely wakes its task once (harmless), and is re-armed by the next wait.
//!
//! The alarm is generic ([`Alarm`]) so the tests drive a fake one and a fake clock.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, RawWakerVTable, Waker};
use std::time::Duration;

use monoio::time::{Instant, Sleep};

/// What a [`Deadline`] waits on: something that rings at an instant once armed, and the
/// clock it is measured by.
pub trait Alarm {
    /// A new alarm armed for `at`.
    fn armed_for(at: Instant) -> Self;
    /// The current time.
    fn now() -> Instant;
    /// Ring at `at` instead (earlier or later than before, or again after ringing).
    fn arm(self: Pin<&mut Self>, at: Instant);
    /// `Ready` once the instant it is armed for has passed (and until it is armed again).
    fn poll_ring(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
    /// It has rung (a cheap look, without registering a waker).
    fn rung(&self) -> bool;
}

impl Alarm for Sleep {
    fn armed_for(at: Instant) -> Self {
        monoio::time::sleep_until(at)
    }
    fn now() -> Instant {
        Instant::now()
    }
    fn arm(self: Pin<&mut Self>, at: Instant) {
        self.reset(at);
    }
    fn poll_ring(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.poll(cx)
    }
    fn rung(&self) -> bool {
        self.is_elapsed()
    }
}

/// The deadline passed before the operation completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl From<Elapsed> for io::Error {
    fn from(_: Elapsed) -> io::Error {
        io::ErrorKind::TimedOut.into()
    }
}

/// A deadline that operations race (see the module documentation). Made without a timer;
/// the alarm is created the first time an operation has to wait (one allocation per
/// connection, none per request).
pub struct Deadline<A: Alarm = Sleep> {
    /// The deadline in force; `None`: operations never time out.
    at: Option<Instant>,
    /// The alarm, once an operation has had to wait.
    alarm: Option<Armed<A>>,
    /// The clock reading of the last [`Deadline::within`] operation that had to wait.
    last_wait: Option<Instant>,
}

/// The alarm, the instant it is armed for, and the task it wakes.
struct Armed<A> {
    alarm: Pin<Box<A>>,
    at: Instant,
    /// The task the alarm wakes. A monoio timer keeps the waker of the first poll that found
    /// it unfired and ignores later ones until it fires, so when another task waits on the
    /// deadline (a pooled upstream connection changes hands, another HTTP/2 stream uses it)
    /// the alarm is replaced in place (same allocation): otherwise it would wake the
    /// previous task and the current one would never time out.
    task: TaskId,
    /// The alarm holds the waker of `task` (a poll found it pending since it was last made
    /// or armed): until it rings, another wait of the same task need not poll it.
    listening: bool,
}

/// Which task a waker wakes, compared like `Waker::will_wake` (data and vtable pointers)
/// without holding a reference: a pooled connection does not keep a finished task's memory
/// alive. The comparison cannot be fooled by a new task at a freed task's address: while
/// the alarm has not rung it holds the old task's waker (so its memory is not freed), and
/// once it has rung it is polled again whatever the task.
#[derive(Clone, Copy, PartialEq, Eq)]
struct TaskId(*const (), *const RawWakerVTable);

impl TaskId {
    fn of(waker: &Waker) -> TaskId {
        TaskId(waker.data(), waker.vtable())
    }
}

impl<A: Alarm> Default for Deadline<A> {
    fn default() -> Self {
        Deadline {
            at: None,
            alarm: None,
            last_wait: None,
        }
    }
}

impl<A: Alarm> std::fmt::Debug for Deadline<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deadline").field("at", &self.at).finish()
    }
}

impl<A: Alarm> Deadline<A> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The deadline for the operations that follow (`None`: no deadline). A field write.
    pub fn set(&mut self, at: Option<Instant>) {
        self.at = at;
    }

    /// The deadline in force.
    pub fn get(&self) -> Option<Instant> {
        self.at
    }

    /// When the last [`Deadline::within`] operation began to wait (the clock reading it
    /// took), if one did: a time the connection was still in use.
    pub fn last_wait(&self) -> Option<Instant> {
        self.last_wait
    }

    /// `Ready` once the deadline has passed; otherwise the alarm is armed no later than the
    /// deadline and the task is woken when it rings.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(at) = self.at else {
            return Poll::Pending;
        };
        let armed = match &mut self.alarm {
            Some(armed) => {
                let task = TaskId::of(cx.waker());
                if armed.task != task {
                    // Another task waits now: a fresh alarm that will wake it (see `Armed`).
                    armed.alarm.as_mut().set(A::armed_for(at));
                    armed.at = at;
                    armed.task = task;
                    armed.listening = false;
                } else if armed.at > at {
                    // The deadline moved earlier than the alarm: bring the alarm forward.
                    armed.alarm.as_mut().arm(at);
                    armed.at = at;
                    armed.listening = false;
                } else if armed.listening && !armed.alarm.rung() {
                    // Armed no later than the deadline, and it will wake this task.
                    return Poll::Pending;
                }
                armed
            }
            None => self.alarm.insert(Armed {
                alarm: Box::pin(A::armed_for(at)),
                at,
                task: TaskId::of(cx.waker()),
                listening: false,
            }),
        };
        loop {
            if armed.alarm.as_mut().poll_ring(cx).is_pending() {
                armed.listening = true;
                return Poll::Pending;
            }
            armed.listening = false;
            if armed.at >= at {
                return Poll::Ready(());
            }
            // Rang early: the deadline moved later since the alarm was armed.
            armed.alarm.as_mut().arm(at);
            armed.at = at;
        }
    }

    /// Run `op` until it completes or the deadline in force passes.
    pub fn race<F: Future>(&mut self, op: F) -> Race<'_, F, A> {
        Race {
            op,
            deadline: self,
            limit: None,
        }
    }

    /// Set the deadline to `at` and run `op` against it.
    pub fn race_until<F: Future>(&mut self, at: Instant, op: F) -> Race<'_, F, A> {
        self.set(Some(at));
        self.race(op)
    }

    /// Run `op` with `limit` from its start (`monoio::time::timeout(limit, op)`): the clock
    /// is read only if `op` does not complete on its first poll, and the deadline is then
    /// set to that instant plus `limit`.
    pub fn within<F: Future>(&mut self, limit: Duration, op: F) -> Race<'_, F, A> {
        Race {
            op,
            deadline: self,
            limit: Some(limit),
        }
    }
}

/// An operation racing a [`Deadline`] (made by [`Deadline::race`], [`Deadline::race_until`]
/// and [`Deadline::within`]). The operation is polled first, so one that is ready wins over
/// a deadline that has passed, as with `monoio::time::timeout_at`.
pub struct Race<'d, F, A: Alarm = Sleep> {
    op: F,
    deadline: &'d mut Deadline<A>,
    /// `within`: the bound, until the first wait turns it into the deadline.
    limit: Option<Duration>,
}

impl<F: Future, A: Alarm> Future for Race<'_, F, A> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `op` is structurally pinned: it is never moved out of `self` nor handed
        // out unpinned, `Race` implements neither `Drop` nor `Unpin` by hand (it is `Unpin`
        // only when `F` is), and the other fields are never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `this.op` stays where it is until `Race` is dropped.
        let op = unsafe { Pin::new_unchecked(&mut this.op) };
        if let Poll::Ready(v) = op.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if let Some(limit) = this.limit.take() {
            let now = A::now();
            this.deadline.last_wait = Some(now);
            this.deadline.at = now.checked_add(limit);
        }
        this.deadline.poll_expired(cx).map(|()| Err(Elapsed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::pin::pin;
    use std::task::Waker;

    thread_local! {
        /// The fake clock: an origin plus an offset the test moves.
        static ORIGIN: Instant = Instant::now();
        static OFFSET: Cell<Duration> = const { Cell::new(Duration::ZERO) };
        /// How often an alarm was made or re-armed, polled, and the clock read.
        static ARMS: Cell<usize> = const { Cell::new(0) };
        static POLLS: Cell<usize> = const { Cell::new(0) };
        static READS: Cell<usize> = const { Cell::new(0) };
    }

    fn at(ms: u64) -> Instant {
        ORIGIN.with(|o| *o) + Duration::from_millis(ms)
    }
    fn advance_to(ms: u64) {
        OFFSET.with(|o| o.set(Duration::from_millis(ms)));
    }
    fn arms() -> usize {
        ARMS.with(Cell::get)
    }
    fn reads() -> usize {
        READS.with(Cell::get)
    }

    thread_local! {
        /// The waker the last polled fake alarm holds.
        static HELD: std::cell::RefCell<Option<Waker>> = const { std::cell::RefCell::new(None) };
    }

    /// Rings when the fake clock reaches the instant it is armed for. Like monoio's timer it
    /// keeps the waker of its first pending poll until it rings.
    struct FakeAlarm {
        at: Instant,
        waker: Option<Waker>,
    }

    impl Alarm for FakeAlarm {
        fn armed_for(at: Instant) -> Self {
            ARMS.with(|a| a.set(a.get() + 1));
            FakeAlarm { at, waker: None }
        }
        fn now() -> Instant {
            READS.with(|r| r.set(r.get() + 1));
            ORIGIN.with(|o| *o) + OFFSET.with(Cell::get)
        }
        fn arm(mut self: Pin<&mut Self>, at: Instant) {
            ARMS.with(|a| a.set(a.get() + 1));
            self.at = at;
        }
        fn rung(&self) -> bool {
            ORIGIN.with(|o| *o) + OFFSET.with(Cell::get) >= self.at
        }
        fn poll_ring(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            POLLS.with(|p| p.set(p.get() + 1));
            if self.rung() {
                self.waker = None;
                return Poll::Ready(());
            }
            let held = self.waker.get_or_insert_with(|| cx.waker().clone()).clone();
            HELD.with(|h| *h.borrow_mut() = Some(held));
            Poll::Pending
        }
    }

    fn reset_fakes() {
        advance_to(0);
        ARMS.with(|a| a.set(0));
        READS.with(|r| r.set(0));
    }

    thread_local! {
        /// The one task of the tests that have one.
        static TASK: Waker = Waker::from(std::sync::Arc::new(Count(Default::default())));
    }

    /// Poll `f` once, from the tests' one task.
    fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
        TASK.with(|w| f.poll(&mut Context::from_waker(w)))
    }

    /// A waker that counts its wakes.
    struct Count(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn a_listening_alarm_is_not_polled_again_until_it_rings() {
        reset_fakes();
        let mut d = Deadline::<FakeAlarm>::new();
        d.set(Some(at(1_000)));
        let polls = || POLLS.with(Cell::get);
        let before = polls();
        let mut op = pin!(d.race(std::future::pending::<()>()));
        assert!(poll_once(op.as_mut()).is_pending());
        assert_eq!(polls(), before + 1);
        for _ in 0..3 {
            assert!(poll_once(op.as_mut()).is_pending());
        }
        assert_eq!(polls(), before + 1);
        advance_to(1_000);
        assert_eq!(poll_once(op.as_mut()), Poll::Ready(Err(Elapsed)));
        assert_eq!(polls(), before + 2);
    }

    #[test]
    fn the_task_waiting_now_is_the_one_the_alarm_wakes() {
        reset_fakes();
        let a = Waker::from(std::sync::Arc::new(Count(Default::default())));
        let b = Waker::from(std::sync::Arc::new(Count(Default::default())));
        let mut d = Deadline::<FakeAlarm>::new();
        d.set(Some(at(1_000)));
        let mut op = pin!(d.race(std::future::pending::<()>()));
        assert!(op.as_mut().poll(&mut Context::from_waker(&a)).is_pending());
        assert!(HELD.with(|h| h.borrow().as_ref().is_some_and(|w| w.will_wake(&a))));
        // Another task (the connection changed hands) waits on a later deadline.
        d.set(Some(at(2_000)));
        let mut op = pin!(d.race(std::future::pending::<()>()));
        assert!(op.as_mut().poll(&mut Context::from_waker(&b)).is_pending());
        assert!(
            HELD.with(|h| h.borrow().as_ref().is_some_and(|w| w.will_wake(&b))),
            "the alarm still wakes the previous task"
        );
        assert_eq!(arms(), 2);
        // The same task again: nothing re-made.
        assert!(op.as_mut().poll(&mut Context::from_waker(&b)).is_pending());
        assert_eq!(arms(), 2);
        advance_to(2_000);
        assert_eq!(
            op.as_mut().poll(&mut Context::from_waker(&b)),
            Poll::Ready(Err(Elapsed))
        );
    }

    #[test]
    fn expires_at_the_deadline_and_not_before() {
        reset_fakes();
        let mut d = Deadline::<FakeAlarm>::new();
        d.set(Some(at(10_000)));
        let mut op = pin!(d.race(std::future::pending::<()>()));
        assert!(poll_once(op.as_mut()).is_pending());
        advance_to(9_999);
        assert!(poll_once(op.as_mut()).is_pending());
        advance_to(10_000);
        assert_eq!(poll_once(op.as_mut()), Poll::Ready(Err(Elapsed)));
        assert_eq!(arms(), 1);
    }

    #[test]
    fn an_operation_that_completes_at_once_touches_neither_alarm_nor_clock() {
        reset_fakes();
        let mut d = Deadline::<FakeAlarm>::new();
        d.set(Some(at(10)));
        let mut op = pin!(d.race(std::future::ready(7)));
        assert_eq!(poll_once(op.as_mut()), Poll::Ready(Ok(7)));
        let mut d = Deadline::<FakeAlarm>::new();
        let before = reads();
        let mut op = pin!(d.within(Duration::from_secs(1), std::future::ready(8)));
        assert_eq!(poll_once(op.as_mut()), Poll::Ready(Ok(8)));
        assert_eq!(arms(), 0);
        assert_eq!(reads(), before);
    }

    #[test]
    fn moving_the_deadline_later_is_a_field_write_and_the_alarm_follows_when_it_rings() {
        reset_fakes();
        let mut d = Deadline::<FakeAlarm>::new();
        d.set(Some(at(1_000)));
        assert!(poll_once(pin!(d.race(std::future::pending::<()>())).as_mut()).is_pending());
        assert_eq!(arms(), 1);
        // Later, many times over: no re-arming.
        for ms in [2_000, 3_000, 5_000] {
            d.set(Some(at(ms)));
            assert!(poll_once(pin!(d.race(std::future::pending::<()>())).as_mut()).is_pending());
        }
        assert_eq!(arms(), 1);
        // The alarm rings at 1 s, before the deadline: it is re-armed for 5 s, no timeout.
        advance_to(1_000);
        let mut op = pin!(d.race(std::future::pending::<()>()));
        assert!(poll_once(op.as_mut()).is_pending());
        assert_eq!(arms(), 2);
        advance_to(4_999);
        assert!(poll_once(op.as_mut()).is_pending());
        advance_to(5_000);
        assert_eq!(poll_once(op.as_mut()), Poll::Ready(Err(Elapsed)));
        assert_eq!(arms(), 2);
    }

    #[test]
    fn moving_the_deadline_earlier_re_arms_the_alarm() {
        reset_fakes();
        let mut d = Deadline::<FakeAlarm>::new();
        d.set(Some(at(60_000)));
        assert!(poll_once(pin!(d.race(std::future::pending::<()>())).as_mut()).is_pending());
        d.set(Some(at(10_000)));
        let mut op = pin!(d.race(std::future::pending::<()>()));
        assert!(poll_once(op.as_mut()).is_pending());
        assert_eq!(arms(), 2);
        advance_to(9_999);
        assert!(poll_once(op.as_mut()).is_pending());
        advance_to(10_000);
        assert_eq!(poll_once(op.as_mut()), Poll::Ready(Err(Elapsed)));
    }

    #[test]
    fn within_counts_from_the_first_wait_with_one_clock_read() {
        reset_fakes();
        let mut d = Deadline::<FakeAlarm>::new();
        advance_to(500);
        let before = reads();
        let mut op = pin!(d.within(Duration::from_secs(30), std::future::pending::<()>()));
        assert!(poll_once(op.as_mut()).is_pending());
        advance_to(30_499);
        assert!(poll_once(op.as_mut()).is_pending());
        assert_eq!(reads(), before + 1);
        advance_to(30_500);
        assert_eq!(poll_once(op.as_mut()), Poll::Ready(Err(Elapsed)));
        // The reading is kept: when the connection was last in use.
        assert_eq!(d.last_wait(), Some(at(500)));
    }

    #[test]
    fn the_next_operation_after_an_expiry_gets_its_own_deadline() {
        reset_fakes();
        let mut d = Deadline::<FakeAlarm>::new();
        d.set(Some(at(100)));
        advance_to(100);
        assert_eq!(
            poll_once(pin!(d.race(std::future::pending::<()>())).as_mut()),
            Poll::Ready(Err(Elapsed))
        );
        // The alarm has rung; a later deadline re-arms it rather than failing at once.
        let mut op = pin!(d.race_until(at(200), std::future::pending::<()>()));
        assert!(poll_once(op.as_mut()).is_pending());
        advance_to(200);
        assert_eq!(poll_once(op.as_mut()), Poll::Ready(Err(Elapsed)));
    }

    #[test]
    fn without_a_deadline_nothing_expires() {
        reset_fakes();
        let mut d = Deadline::<FakeAlarm>::new();
        d.set(Some(at(100)));
        assert!(poll_once(pin!(d.race(std::future::pending::<()>())).as_mut()).is_pending());
        d.set(None);
        advance_to(1_000_000);
        assert!(poll_once(pin!(d.race(std::future::pending::<()>())).as_mut()).is_pending());
        assert_eq!(d.get(), None);
    }

    #[test]
    fn the_monoio_alarm_expires_a_passed_deadline() {
        // monoio's Sleep behind the trait: a deadline already passed expires at once, and a
        // completed operation wins over a passed deadline (as with `timeout_at`).
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut d = Deadline::<Sleep>::new();
            let past = Instant::now();
            let r = d.race_until(past, std::future::pending::<()>()).await;
            assert_eq!(r, Err(Elapsed));
            assert_eq!(d.race_until(past, async { 5 }).await, Ok(5));
        });
    }
}
