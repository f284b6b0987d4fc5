"""Drives Tencent Cloud STS AssumeRoleWithWebIdentity through the official SDK's OIDC credential
provider (tencentcloud-sdk-python-common's OIDCRoleArnCredential, which calls it unsigned:
Authorization SKIP, no X-TC-Token), then VPC with the temporary credentials it returns (API 3.0
via tencentcloud-sdk-python-vpc, API 2.0 via qcloudapi-sdk-python).

  exchange   env: SIM_HOST (127.0.0.1:PORT of the simulator's HTTPS side), SIM_CA (its CA PEM
             file), PROVIDER_ID, ROLE_ARN, TOKEN (a ServiceAccount token the trust rule allows),
             OTHER_TOKEN (a token of another ServiceAccount), WRONG_AUDIENCE_TOKEN (the allowed
             ServiceAccount, another audience), LIFETIME (seconds the simulator caps credentials
             at); prints what the SDKs returned, as JSON. No credential or token is printed.
  request    env: SIM_HOST, SIM_CA (a recording endpoint, natgw_sim::recorder), PROVIDER_ID,
             ROLE_ARN, TOKEN, SESSION_NAME, DURATION: one exchange through the OIDC provider, so
             the endpoint holds the SDK's request; prints the SecretId it read.

Exit status 3: the SDKs are not installed.
"""

import json
import os
import sys
import time

try:
    import tencentcloud.common.http.request as tc_request
    from tencentcloud.common import credential
    from tencentcloud.common.common_client import CommonClient
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.vpc.v20170312 import models, vpc_client
    from QcloudApi.modules.vpc import Vpc
    from QcloudApi.qcloudapi import QcloudApi
except ImportError as e:
    print("the Tencent Cloud SDKs are not importable (%s): run "
          "~/.cache/natgw-operator/venv/bin/pip install -r tests/conformance/requirements.txt" % e,
          file=sys.stderr)
    sys.exit(3)

HOST, CA = os.environ.get("SIM_HOST", ""), os.environ.get("SIM_CA", "")
REGION = "ap-guangzhou"


def trust_simulator_ca():
    # OIDCRoleArnCredential builds its own HttpProfile, whose connection trusts certifi's bundle:
    # point that bundle at the simulator's CA, as SSL_CERT_FILE does for qcloudapi.
    tc_request.certifi.where = lambda: CA


def oidc(token, role=None, session="natgw-conformance", duration=7200):
    return credential.OIDCRoleArnCredential(REGION, os.environ["PROVIDER_ID"], token,
                                            role or os.environ["ROLE_ARN"], session, duration, endpoint=HOST)


def vpc(cred):
    http = HttpProfile(endpoint=HOST)
    http.certification = CA
    return vpc_client.VpcClient(cred, REGION, ClientProfile(httpProfile=http))


def describe(cred):
    r = models.DescribeNatGatewaysRequest()
    r.NatGatewayIds = ["nat-1"]
    return vpc(cred).DescribeNatGateways(r).TotalCount


def v2_describe(secret_id, key, token=None):
    config = {"Region": REGION, "secretId": secret_id, "secretKey": key, "method": "POST",
              "SignatureMethod": "HmacSHA256"}
    if token:
        config["Token"] = token
    r = json.loads(QcloudApi("vpc", config).call("DescribeNatGateway", {"natId": "nat-1"}))
    return r["code"]


def error_code(f):
    try:
        f()
    except TencentCloudSDKException as e:
        return e.get_code()
    return None


def exchange():
    trust_simulator_ca()
    Vpc.requestHost = HOST
    out = {}

    cred = oidc(os.environ["TOKEN"])
    secret_id, key, token = cred.get_credential_info()
    expired_time = cred._expired_time + 7200 * 0.1  # the SDK keeps ExpiredTime - 10% of the duration
    out["exchange"] = {"secretIdIsApiKey": secret_id.startswith("AKID"), "hasKey": bool(key),
                       "hasToken": bool(token), "lifetime": round(expired_time - time.time())}
    # The provider as a client's credential: the SDK exchanges and signs with X-TC-Token itself.
    out["vpc_with_provider"] = describe(oidc(os.environ["TOKEN"]))
    temporary = credential.Credential(secret_id, key, token)
    out["vpc_v3"] = describe(temporary)
    out["vpc_v3_without_token"] = error_code(lambda: describe(credential.Credential(secret_id, key)))
    out["vpc_v3_wrong_token"] = error_code(lambda: describe(credential.Credential(secret_id, key, token + "x")))
    out["vpc_v2"] = v2_describe(secret_id, key, token)
    out["vpc_v2_without_token"] = v2_describe(secret_id, key)

    out["other_subject"] = error_code(lambda: oidc(os.environ["OTHER_TOKEN"]).get_credential_info())
    out["wrong_audience"] = error_code(lambda: oidc(os.environ["WRONG_AUDIENCE_TOKEN"]).get_credential_info())
    out["unknown_role"] = error_code(
        lambda: oidc(os.environ["TOKEN"], "qcs::cam::uin/100000000001:roleName/nobody").get_credential_info())
    out["not_a_jwt"] = error_code(lambda: oidc("not-a-jwt").get_credential_info())
    # Any other action called unsigned, as the SDK calls this one, is refused.
    http = HttpProfile(endpoint=HOST)
    http.certification = CA
    unsigned = CommonClient("vpc", "2017-03-12", None, REGION, ClientProfile(httpProfile=http))
    out["unsigned_vpc"] = error_code(lambda: unsigned.call_json("DescribeNatGateways", {}, options={"SkipSign": True}))

    # Past their expiry the credentials are refused, token or not.
    time.sleep(max(0.0, expired_time - time.time()) + 1.0)
    out["vpc_v3_expired"] = error_code(lambda: describe(temporary))
    out["vpc_v2_expired"] = v2_describe(secret_id, key, token)
    # The provider notices and exchanges again.
    out["vpc_with_provider_after_expiry"] = describe(oidc(os.environ["TOKEN"]))
    print(json.dumps(out))


def request():
    trust_simulator_ca()
    cred = oidc(os.environ["TOKEN"], session=os.environ["SESSION_NAME"], duration=int(os.environ["DURATION"]))
    secret_id, _, _ = cred.get_credential_info()
    print(json.dumps({"secretId": secret_id}))


{"exchange": exchange, "request": request}[sys.argv[1]]()
