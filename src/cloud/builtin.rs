//! The clouds the operator ships: each cloud [`super::spec`] declares, with its client. Apart from
//! the registry, which every cloud's client implements, so that no cloud depends on this list.

use super::{Registry, huawei, spec::CloudName, tencent};

impl Registry {
    /// The clouds in the order [`super::spec`] declares them; the `match` asks for every new one.
    pub fn builtin() -> Registry {
        CloudName::ALL.iter().fold(Registry::empty(), |registry, cloud| match cloud {
            CloudName::Tencent => registry.with(tencent::Tencent),
            CloudName::Huawei => registry.with(huawei::Huawei),
        })
    }
}
