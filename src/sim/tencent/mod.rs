//! A simulator of Tencent Cloud API 2.0 and 3.0 for NAT gateways.
