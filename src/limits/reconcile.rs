//! The reconciler (written by the limits work).
