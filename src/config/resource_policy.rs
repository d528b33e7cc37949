//! `apis[i].resource_policy`: a REST API's resource policy. (Skeleton of issue 14: the
//! policy helper owns and completes it, compiling the document with `auth::policy`.)

use super::snapshot::ApiType;
use super::validate::Errors;

#[derive(Debug)]
pub struct ResourcePolicy {
    pub document: serde_json::Value,
}

pub(super) fn build(
    e: &mut Errors,
    api_type: ApiType,
    document: &serde_json::Value,
    path: &str,
) -> Option<ResourcePolicy> {
    if api_type != ApiType::Rest {
        e.push(path, "resource policies are a REST API feature");
        return None;
    }
    Some(ResourcePolicy {
        document: document.clone(),
    })
}
