"""Drives the simulated STS AssumeRoleWithOIDC (RRSA) with the official SDKs: the OIDC provider
of alibabacloud-credentials (type `oidc_role_arn`, which calls STS itself, unsigned, over HTTPS)
feeding VPC calls of alibabacloud-vpc20160428, and alibabacloud-sts20150401 for the refusals.

  exchange   env: SIM_HOST (localhost:PORT of the simulator's HTTPS side; SSL_CERT_FILE its CA),
             PROVIDER_ARN, ROLE_ARN, TOKEN_FILE (a token the trust rule allows), OTHER_TOKEN
             (another subject's), WRONG_AUDIENCE_TOKEN, EXPIRED_TOKEN, LIFETIME (seconds the
             simulator caps credentials at). Prints what the SDKs returned, as JSON; no
             credential or token is printed.

Exit status 3: the SDKs are not installed.
"""

import json
import os
import sys
import time

# alibaba_sdk exits 3 when the SDKs are not importable.
from alibaba_sdk import Config, VpcClient, code, require, vpc_models

with require():
    from alibabacloud_credentials.client import Client as CredentialClient
    from alibabacloud_credentials.models import Config as CredentialConfig
    from alibabacloud_sts20150401 import models as sts_models
    from alibabacloud_sts20150401.client import Client as StsClient

HOST = os.environ.get("SIM_HOST", "")
REGION = "cn-hangzhou"


def describe(vpc):
    body = vpc.describe_nat_gateways(vpc_models.DescribeNatGatewaysRequest(region_id=REGION)).body
    return body.total_count


def assume(token, role=None):
    sts = StsClient(Config(endpoint=HOST, protocol="https"))
    return sts.assume_role_with_oidc(sts_models.AssumeRoleWithOIDCRequest(
        oidcprovider_arn=os.environ["PROVIDER_ARN"], role_arn=role or os.environ["ROLE_ARN"],
        oidctoken=token, role_session_name="natgw-conformance")).body


def exchange():
    out = {}
    # The credentials SDK's RRSA provider, as a pod with a projected token uses it.
    provider = CredentialClient(CredentialConfig(
        type="oidc_role_arn", role_arn=os.environ["ROLE_ARN"], oidc_provider_arn=os.environ["PROVIDER_ARN"],
        oidc_token_file_path=os.environ["TOKEN_FILE"], role_session_name="natgw-operator",
        sts_endpoint=HOST))
    cred = provider.get_credential()
    out["provider"] = [cred.access_key_id.startswith("STS."), bool(cred.access_key_secret),
                       bool(cred.security_token), cred.type]
    for style, algorithm in (("v3", None), ("rpc", "v2")):
        vpc = VpcClient(Config(credential=provider, endpoint=HOST, protocol="https", signature_algorithm=algorithm))
        out["vpc_" + style] = describe(vpc)

    # The STS SDK: the answer's fields, and the documented refusals.
    with open(os.environ["TOKEN_FILE"]) as f:
        body = assume(f.read())
    lifetime = time.mktime(time.strptime(body.credentials.expiration, "%Y-%m-%dT%H:%M:%SZ")) - time.mktime(time.gmtime())
    out["sts"] = [body.credentials.access_key_id.startswith("STS."), bool(body.assumed_role_user.arn),
                  body.oidctoken_info.subject]
    out["lifetime_capped"] = 0 < lifetime <= int(os.environ["LIFETIME"]) + 1
    key, secret, token = body.credentials.access_key_id, body.credentials.access_key_secret, body.credentials.security_token
    temp = lambda t: VpcClient(Config(access_key_id=key, access_key_secret=secret, security_token=t,
                                      endpoint=HOST, protocol="https"))
    out["temporary_without_token"] = code(lambda: describe(temp(None)))
    out["other_subject"] = code(lambda: assume(os.environ["OTHER_TOKEN"]))
    out["wrong_audience"] = code(lambda: assume(os.environ["WRONG_AUDIENCE_TOKEN"]))
    out["expired_token"] = code(lambda: assume(os.environ["EXPIRED_TOKEN"]))
    out["not_a_jwt"] = code(lambda: assume("not-a-jwt"))
    out["unknown_role"] = code(lambda: assume(os.environ["OTHER_TOKEN"], "acs:ram::1234567890:role/nobody"))

    # Expired temporary credentials are refused; the provider exchanges again and goes on.
    time.sleep(int(os.environ["LIFETIME"]) + 1)
    out["temporary_expired"] = code(lambda: describe(temp(token)))
    out["provider_after_expiry"] = describe(VpcClient(Config(credential=provider, endpoint=HOST, protocol="https")))
    return out


def main():
    if sys.argv[1:] != ["exchange"]:
        sys.exit("usage: alibaba_rrsa.py exchange")
    print(json.dumps(exchange()))


if __name__ == "__main__":
    main()
