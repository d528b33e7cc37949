//! The worker's drain signal: set once on shutdown; accept loops and idle keep-alive
//! connections wait on it. Waiters register in a reusable slot table, so waiting per
//! request allocates nothing in the steady state.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
pub struct Drain {
    draining: Cell<bool>,
    slots: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
    active: Cell<usize>,
}

impl Drain {
    pub fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Start draining and wake every waiter.
    pub fn trigger(&self) {
        self.draining.set(true);
        let wakers: Vec<Waker> = self
            .slots
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Resolves once draining has started.
    pub fn wait(&self) -> DrainWait<'_> {
        DrainWait {
            drain: self,
            slot: None,
        }
    }

    /// Connections currently open on this worker.
    pub fn active(&self) -> usize {
        self.active.get()
    }

    /// Count a connection as open until the guard drops.
    pub fn track(&self) -> ActiveGuard<'_> {
        self.active.set(self.active.get() + 1);
        ActiveGuard { drain: self }
    }
}

pub struct ActiveGuard<'a> {
    drain: &'a Drain,
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.drain
            .active
            .set(self.drain.active.get().saturating_sub(1));
    }
}

pub struct DrainWait<'a> {
    drain: &'a Drain,
    slot: Option<usize>,
}

impl Future for DrainWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.drain.draining.get() {
            return Poll::Ready(());
        }
        let mut slots = self.drain.slots.borrow_mut();
        match self.slot {
            Some(i) => {
                if let Some(s) = slots.get_mut(i) {
                    *s = Some(cx.waker().clone());
                }
            }
            None => {
                let i = match self.drain.free.borrow_mut().pop() {
                    Some(i) => {
                        if let Some(s) = slots.get_mut(i) {
                            *s = Some(cx.waker().clone());
                        }
                        i
                    }
                    None => {
                        slots.push(Some(cx.waker().clone()));
                        slots.len() - 1
                    }
                };
                drop(slots);
                self.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl Drop for DrainWait<'_> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            if let Some(s) = self.drain.slots.borrow_mut().get_mut(i) {
                *s = None;
            }
            self.drain.free.borrow_mut().push(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct CountWake(AtomicUsize);
    impl Wake for CountWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn waiters_wake_on_trigger_and_slots_are_reused() {
        let drain = Drain::default();
        let counter = Arc::new(CountWake(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        for _ in 0..100 {
            let mut w = drain.wait();
            assert!(Pin::new(&mut w).poll(&mut cx).is_pending());
        }
        assert_eq!(
            drain.slots.borrow().len(),
            1,
            "dropped waiters give their slot back"
        );
        let mut w = drain.wait();
        assert!(Pin::new(&mut w).poll(&mut cx).is_pending());
        drain.trigger();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(Pin::new(&mut w).poll(&mut cx).is_ready());
    }

    #[test]
    fn active_guard_counts() {
        let drain = Drain::default();
        let a = drain.track();
        let b = drain.track();
        assert_eq!(drain.active(), 2);
        drop(a);
        drop(b);
        assert_eq!(drain.active(), 0);
    }
}
