//! The clouds the resource can name, one line each (see [`super::clouds`] for what a line
//! yields): `spec.provider` and `spec.workloadIdentity` as one variant per cloud. The resource's
//! types read this file, so it reads only the clouds' parts of the resource, never the
//! clients; [`super::Registry::builtin`] pairs each declared cloud with its client.

use super::{
    clouds::clouds,
    huawei::{HuaweiIdentity, HuaweiProvider},
    tencent::{TencentIdentity, TencentProvider},
};

clouds! {
    tencent => Tencent(TencentProvider, TencentIdentity),
    // Boxed: the cache holds every NatGateway, and inline it would take one past jemalloc's
    // 768-byte size class (BENCHMARKS.md, memory).
    huawei => Huawei(Box<HuaweiProvider>, HuaweiIdentity),
}
