//! Huawei Cloud: NAT v2, BSS and IAM clients and the SDK-HMAC-SHA256 signature.
