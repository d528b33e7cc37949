//! Several owned buffers written with vectored writes (`writev`), none copied: a cache hit's
//! stored head, per-request headers and stored body; a response head and the body bytes
//! that arrived with the upstream's head. One system call (or one io_uring operation) where
//! writing them one by one would take several.

use std::io;
use std::ops::Range;

use monoio::buf::IoVecBuf;
use monoio::io::AsyncWriteRent;

/// Up to three byte slices to write, in order (empty ones are skipped).
///
/// # Safety
/// Every slice `parts` returns must point into heap memory that `self` owns, that does not
/// move when `self` is moved and that is not changed while `self` is lent to a write
/// (a `Vec`'s or an `Arc`'s contents, not an inline array field).
pub unsafe trait Parts {
    fn parts(&self) -> [&[u8]; 3];
}

/// Parts lent to the kernel (or to TLS), with the iovecs that point at what is left.
struct Lent<P> {
    parts: P,
    /// On the heap (a reused vector) so moving `Lent` never moves what the kernel reads.
    iov: Vec<libc::iovec>,
}

impl<P: Parts> Lent<P> {
    /// Point the iovecs at what is left after `written` bytes (empty parts skipped).
    fn aim(&mut self, mut written: usize) {
        self.iov.clear();
        for part in self.parts.parts() {
            if written >= part.len() {
                written -= part.len();
                continue;
            }
            let rest = &part[written..];
            written = 0;
            self.iov.push(libc::iovec {
                iov_base: rest.as_ptr() as *mut libc::c_void,
                iov_len: rest.len(),
            });
        }
    }

    fn total(&self) -> usize {
        self.parts.parts().iter().map(|p| p.len()).sum()
    }
}

// SAFETY: every iovec points into memory `parts` owns on the heap and leaves unchanged while
// lent (the `Parts` contract); the iovec array is the heap buffer of `iov`. Moving a Lent
// moves only handles, so all pointers stay valid for as long as the operation owns it.
unsafe impl<P: Parts + Unpin + 'static> IoVecBuf for Lent<P> {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.iov.as_ptr()
    }

    fn read_iovec_len(&self) -> usize {
        self.iov.len()
    }
}

/// Write every byte of `parts`, in order. `iov` is a reused buffer; it and `parts` are
/// handed back whatever happens (`iov` empty).
pub async fn write_parts<W: AsyncWriteRent, P: Parts + Unpin + 'static>(
    stream: &mut W,
    parts: P,
    iov: Vec<libc::iovec>,
) -> (io::Result<()>, P, Vec<libc::iovec>) {
    let mut lent = Lent { parts, iov };
    let total = lent.total();
    let mut written = 0;
    let mut result = Ok(());
    while written < total {
        lent.aim(written);
        let (res, back) = stream.writev(lent).await;
        lent = back;
        match res {
            Ok(0) => {
                result = Err(io::ErrorKind::WriteZero.into());
                break;
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    lent.iov.clear();
    (result, lent.parts, lent.iov)
}

/// A head buffer, then a range of a second buffer (a response head and the body bytes that
/// sit behind the upstream's head in its read buffer).
pub struct HeadAndBody {
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    pub range: Range<usize>,
}

// SAFETY: both slices are the heap contents of the two Vecs this struct owns; nothing here
// changes them while the struct is lent.
unsafe impl Parts for HeadAndBody {
    fn parts(&self) -> [&[u8]; 3] {
        [
            &self.head,
            self.body.get(self.range.clone()).unwrap_or_default(),
            &[],
        ]
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A writer that takes at most `budget` bytes per call, and only vectored writes.
    pub struct Trickle {
        pub out: Vec<u8>,
        pub budget: usize,
        pub calls: usize,
    }

    impl Trickle {
        pub fn new(budget: usize) -> Self {
            Trickle {
                out: Vec::new(),
                budget,
                calls: 0,
            }
        }
    }

    impl AsyncWriteRent for Trickle {
        async fn write<T: monoio::buf::IoBuf>(&mut self, buf: T) -> monoio::BufResult<usize, T> {
            (Ok(0), buf)
        }
        async fn writev<T: IoVecBuf>(&mut self, buf: T) -> monoio::BufResult<usize, T> {
            self.calls += 1;
            let mut budget = self.budget;
            let mut n = 0;
            for i in 0..buf.read_iovec_len() {
                // SAFETY: IoVecBuf contract: the pointer covers read_iovec_len iovecs.
                let v = unsafe { *buf.read_iovec_ptr().add(i) };
                let take = v.iov_len.min(budget);
                // SAFETY: the iovec describes live bytes of `buf`.
                let s = unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, take) };
                self.out.extend_from_slice(s);
                budget -= take;
                n += take;
                if budget == 0 {
                    break;
                }
            }
            (Ok(n), buf)
        }
        async fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
        async fn shutdown(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .expect("runtime");
        rt.block_on(f)
    }

    fn head_and_body(range: Range<usize>) -> HeadAndBody {
        HeadAndBody {
            head: b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
            body: b"upstream-head|body-bytes|next".to_vec(),
            range,
        }
    }

    #[test]
    fn head_and_a_body_range_go_out_in_one_write() {
        let (out, calls, parts, iov) = block_on(async {
            let mut w = Trickle::new(usize::MAX);
            let (res, parts, iov) = write_parts(&mut w, head_and_body(14..24), Vec::new()).await;
            assert!(res.is_ok());
            (w.out, w.calls, parts, iov)
        });
        assert_eq!(out, b"HTTP/1.1 200 OK\r\n\r\nbody-bytes");
        assert_eq!(calls, 1);
        // Both buffers come back whole, the iovecs empty.
        assert_eq!(parts.body, b"upstream-head|body-bytes|next");
        assert!(iov.is_empty());
    }

    #[test]
    fn a_partial_writer_gets_every_byte_once() {
        for budget in 1..8 {
            let out = block_on(async {
                let mut w = Trickle::new(budget);
                let (res, _, _) = write_parts(&mut w, head_and_body(14..24), Vec::new()).await;
                assert!(res.is_ok());
                w.out
            });
            assert_eq!(out, b"HTTP/1.1 200 OK\r\n\r\nbody-bytes", "budget {budget}");
        }
    }

    #[test]
    fn empty_parts_are_skipped_and_a_writer_that_takes_nothing_fails() {
        let out = block_on(async {
            let mut w = Trickle::new(usize::MAX);
            let parts = HeadAndBody {
                head: Vec::new(),
                body: b"abc".to_vec(),
                range: 0..3,
            };
            let (res, _, _) = write_parts(&mut w, parts, Vec::new()).await;
            assert!(res.is_ok());
            w.out
        });
        assert_eq!(out, b"abc");
        let err = block_on(async {
            let mut w = Trickle::new(0);
            let (res, _, _) = write_parts(&mut w, head_and_body(14..24), Vec::new()).await;
            res.expect_err("a writer that accepts nothing")
        });
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
    }
}
