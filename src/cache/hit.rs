//! Writing a cache hit without copying it: one vectored write of the stored head, the
//! per-request headers (Date, request id, framing) and the stored body, the first and last
//! straight from the shared `Arc<CachedResponse>`.

use std::io;
use std::sync::Arc;

use monoio::io::AsyncWriteRent;

use crate::transport::vectored::{write_parts, Parts};

use super::entry::CachedResponse;

/// The three parts of a hit: the stored head, the per-request header lines, the stored body.
struct HitParts {
    entry: Arc<CachedResponse>,
    middle: Vec<u8>,
}

// SAFETY: the stored head and body are immutable bytes behind the Arc this struct owns, and
// `middle` is a Vec it owns and does not touch while lent: all on the heap.
unsafe impl Parts for HitParts {
    fn parts(&self) -> [&[u8]; 3] {
        [self.entry.head(), &self.middle, self.entry.body()]
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
    let (res, parts, iov) = write_parts(stream, HitParts { entry, middle }, iov).await;
    (res, parts.middle, iov)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::vectored::tests::Trickle;

    #[test]
    fn head_middle_and_body_go_out_in_order_whatever_the_writer_takes() {
        for budget in [1, 3, 7, usize::MAX] {
            let entry = Arc::new(CachedResponse::new(200, b"HEAD\r\nbody-bytes".to_vec(), 6));
            let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .build()
                .expect("runtime");
            let out = rt.block_on(async {
                let mut w = Trickle::new(budget);
                let (res, middle, iov) =
                    write_hit(&mut w, entry, b"x: 1\r\n\r\n".to_vec(), Vec::new()).await;
                assert!(res.is_ok());
                assert_eq!(middle, b"x: 1\r\n\r\n");
                assert!(iov.is_empty());
                w.out
            });
            assert_eq!(out, b"HEAD\r\nx: 1\r\n\r\nbody-bytes", "budget {budget}");
        }
    }
}
