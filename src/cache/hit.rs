//! Writing a cache hit without copying it: one vectored write of the stored head, the
//! per-request headers (Date, request id, framing) and the stored body, the first and last
//! straight from the shared `Arc<CachedResponse>`.

use std::io;
use std::sync::Arc;

use monoio::buf::IoVecBuf;
use monoio::io::AsyncWriteRent;

use super::entry::CachedResponse;

/// The three parts of a hit, lent to the kernel (or to TLS) for one write.
pub struct HitBufs {
    entry: Arc<CachedResponse>,
    middle: Vec<u8>,
    /// On the heap (a reused vector) so moving `HitBufs` never moves what the kernel reads.
    iov: Vec<libc::iovec>,
}

impl HitBufs {
    /// Point the iovecs at what is left after `written` bytes (empty parts skipped).
    fn aim(&mut self, mut written: usize) {
        self.iov.clear();
        let parts: [&[u8]; 3] = [self.entry.head(), &self.middle, self.entry.body()];
        for part in parts {
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
        self.entry.head().len() + self.middle.len() + self.entry.body().len()
    }
}

// SAFETY: every iovec points into `entry` (immutable bytes behind an Arc this struct owns)
// or `middle` (a Vec this struct owns and does not touch while lent); the iovec array is the
// heap buffer of `iov`. Moving a HitBufs moves only handles, so all pointers stay valid for
// as long as the operation owns the value.
unsafe impl IoVecBuf for HitBufs {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.iov.as_ptr()
    }

    fn read_iovec_len(&self) -> usize {
        self.iov.len()
    }
}

/// Write `entry`'s head, then `middle` (the per-request header lines and the blank line),
/// then its body. `middle` and `iov` are reused buffers; both are handed back whatever
/// happens.
pub async fn write_hit<W: AsyncWriteRent>(
    stream: &mut W,
    entry: Arc<CachedResponse>,
    middle: Vec<u8>,
    iov: Vec<libc::iovec>,
) -> (io::Result<()>, Vec<u8>, Vec<libc::iovec>) {
    let mut bufs = HitBufs { entry, middle, iov };
    let total = bufs.total();
    let mut written = 0;
    let mut result = Ok(());
    while written < total {
        bufs.aim(written);
        let (res, back) = stream.writev(bufs).await;
        bufs = back;
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
    bufs.iov.clear();
    (result, bufs.middle, bufs.iov)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(b: &HitBufs) -> Vec<Vec<u8>> {
        b.iov
            .iter()
            .map(|v| {
                // SAFETY: the iovecs were just built from live slices of `b`.
                unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len) }.to_vec()
            })
            .collect()
    }

    #[test]
    fn aim_skips_what_was_written() {
        let entry = Arc::new(CachedResponse::new(200, b"HEADbody".to_vec(), 4));
        let mut b = HitBufs {
            entry,
            middle: b"MID".to_vec(),
            iov: Vec::new(),
        };
        assert_eq!(b.total(), 11);
        b.aim(0);
        assert_eq!(
            parts(&b),
            vec![b"HEAD".to_vec(), b"MID".to_vec(), b"body".to_vec()]
        );
        b.aim(5);
        assert_eq!(parts(&b), vec![b"ID".to_vec(), b"body".to_vec()]);
        b.aim(7);
        assert_eq!(parts(&b), vec![b"body".to_vec()]);
        b.aim(11);
        assert!(parts(&b).is_empty());
    }

    #[test]
    fn a_partial_writer_gets_every_byte_once() {
        // A writer that takes at most 3 bytes per call.
        struct Trickle(Vec<u8>);
        impl AsyncWriteRent for Trickle {
            async fn write<T: monoio::buf::IoBuf>(
                &mut self,
                buf: T,
            ) -> monoio::BufResult<usize, T> {
                (Ok(0), buf)
            }
            async fn writev<T: IoVecBuf>(&mut self, buf: T) -> monoio::BufResult<usize, T> {
                let mut budget = 3;
                let mut n = 0;
                for i in 0..buf.read_iovec_len() {
                    // SAFETY: IoVecBuf contract: the pointer covers read_iovec_len iovecs.
                    let v = unsafe { *buf.read_iovec_ptr().add(i) };
                    let take = v.iov_len.min(budget);
                    // SAFETY: the iovec describes live bytes of `buf`.
                    let s = unsafe { std::slice::from_raw_parts(v.iov_base as *const u8, take) };
                    self.0.extend_from_slice(s);
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
        let entry = Arc::new(CachedResponse::new(200, b"HEAD\r\nbody-bytes".to_vec(), 6));
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .expect("runtime");
        let out = rt.block_on(async {
            let mut w = Trickle(Vec::new());
            let (res, middle, iov) =
                write_hit(&mut w, entry, b"x: 1\r\n\r\n".to_vec(), Vec::new()).await;
            assert!(res.is_ok());
            assert_eq!(middle, b"x: 1\r\n\r\n");
            assert!(iov.is_empty());
            w.0
        });
        assert_eq!(out, b"HEAD\r\nx: 1\r\n\r\nbody-bytes");
    }
}
