//! A simulator of Huawei Cloud NAT v2, BSS and IAM.
