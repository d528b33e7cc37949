//! Quotas (written by the quota work).
