//! Taps on the response: observers that see its head, headers and body as they pass to the
//! client, registered by the phases that want them (the cache phase on a miss records the
//! response for the stage cache; access logs and metrics come next). The integration code
//! calls the taps, whoever is listening; it takes no observer as a parameter.

use crate::pipeline::cache::Miss;

#[derive(Default)]
pub struct ResponseTaps<'s> {
    /// The cache recorder of a cacheable request on its way to the integration.
    pub cache: Option<Miss<'s>>,
    /// The execution log's data trace (response headers and the first KiB of the body).
    pub execution: Option<crate::pipeline::execution_log::ResponseTrace<'s>>,
}

impl ResponseTaps<'_> {
    /// The response head begins: `length` is the body length when known.
    pub fn head(&mut self, status: u16, length: Option<u64>, head_only: bool) {
        if let Some(m) = self.cache.as_mut() {
            if head_only {
                // A HEAD client's response records nothing (GET fills the cache).
                m.fail();
            } else {
                m.begin(status, length);
            }
        }
    }

    /// One header line, as it goes to the client.
    pub fn header(&mut self, name: &[u8], value: &[u8]) {
        if let Some(m) = self.cache.as_mut() {
            m.header(name, value);
        }
        if let Some(x) = self.execution.as_mut() {
            x.header(name, value);
        }
    }

    /// The forwarded headers are over: the taps' own headers (e.g. the cache status
    /// header), to add to the response.
    pub fn end_head(&mut self, mut add: impl FnMut(&[u8], &[u8])) {
        if let Some(m) = self.cache.as_mut() {
            m.end_head();
            if let Some((name, value)) = m.status_header {
                add(name, value);
            }
            if m.warning {
                add(b"warning", crate::pipeline::cache::IGNORED_WARNING);
            }
        }
    }

    /// Whether any tap wants the body bytes (else they may go socket to socket).
    pub fn wants_body(&self) -> bool {
        self.cache.as_ref().is_some_and(Miss::recording) || self.execution.is_some()
    }

    /// Body bytes as sent to the client.
    pub fn body(&mut self, data: &[u8]) {
        if let Some(m) = self.cache.as_mut() {
            m.body(data);
        }
        if let Some(x) = self.execution.as_mut() {
            x.body(data);
        }
    }

    /// The response ended: whole (`complete`) or not (an error, cut short).
    pub fn complete(&mut self, complete: bool) {
        if let Some(mut m) = self.cache.take() {
            if !complete {
                m.fail();
            }
            crate::pipeline::cache::store(Some(m));
        }
    }
}
