//! Target health: active HTTP checks off the request path, passive ejection on the request
//! path, and the messages that carry active results to every worker.
//!
//! CONTRACT (implemented by the balancing work): see the doc comments on each item.
