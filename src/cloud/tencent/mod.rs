//! Tencent Cloud: API 2.0 and API 3.0 clients and their signatures.
