"""Drives Huawei Cloud IAM's OpenID Connect federation through the official SDKs: IAM's
CreateTokenWithIdToken and CreateTemporaryAccessKeyByToken (huaweicloudsdkiam), and the core
SDK's own id-token credential path (BasicCredentials with_idp_id / with_id_token_file), then NAT,
BSS and IAM calls signed with the temporary AK/SK and their X-Security-Token.

  exchange   env: HW_ENDPOINT (the simulator's URL), IDP_ID, HW_PROJECT, HW_DOMAIN, HW_REGION,
             TOKEN_FILE (a ServiceAccount token the trust rule allows), OTHER_TOKEN_FILE (a
             token of another ServiceAccount), WRONG_AUDIENCE_TOKEN_FILE (the allowed
             ServiceAccount, another audience); prints what the SDKs returned, as JSON. No
             credential or token is printed.
  request    env: HW_ENDPOINT, HW_CA (a recording endpoint, natgw_sim::recorder), IDP_ID,
             TOKEN_FILE: the core SDK's own federation (FederalAccessor: CreateTokenWithIdToken,
             then CreateTemporaryAccessKeyByToken), so the endpoint holds the SDK's requests;
             prints the access key it read.

Exit status 3: the SDKs are not importable.
"""

import calendar
import json
import logging
import os
import sys
import time

try:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials, GlobalCredentials
    from huaweicloudsdkcore.exceptions import exceptions
    from huaweicloudsdkcore.http.http_client import HttpClient
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdknat.v2 import ListNatGatewaysRequest, NatClient
    from huaweicloudsdkbss.v2 import BssClient, ListCustomerOrdersRequest
    from huaweicloudsdkiam.v3 import (CreateTemporaryAccessKeyByTokenRequest,
                                      CreateTemporaryAccessKeyByTokenRequestBody, CreateTokenWithIdTokenRequest,
                                      GetIdTokenAuthParams, GetIdTokenIdScopeBody, GetIdTokenIdTokenBody,
                                      GetIdTokenRequestBody, GetIdTokenScopeDomainOrProjectBody, IamClient,
                                      IdentityToken, KeystoneListProjectsRequest, TokenAuth, TokenAuthIdentity)
except ImportError as e:  # pragma: no cover - reported by the Rust test
    print(f"the Huawei Cloud SDKs are not importable: {e}; pip install -r tests/conformance/requirements.txt",
          file=sys.stderr)
    sys.exit(3)

EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def env(name):
    return os.environ[name]


def read(path):
    with open(path) as f:
        return f.read().strip()


def failure(call):
    try:
        call()
    except exceptions.ClientRequestException as e:
        return {"status": e.status_code, "code": e.error_code}
    raise AssertionError("the call succeeded")


def iam_client():
    # These calls are not signed with an AK/SK (the caller has none yet); the client still wants
    # credentials to be built, and the simulator, as IAM, does not look at them.
    unused = GlobalCredentials("UNUSEDAK", "unused-sk", env("HW_DOMAIN"))
    return IamClient.new_builder().with_credentials(unused).with_endpoint(env("HW_ENDPOINT")).build()


def federated_token(iam, token, idp=None):
    request = CreateTokenWithIdTokenRequest(
        x_idp_id=idp or env("IDP_ID"),
        body=GetIdTokenRequestBody(auth=GetIdTokenAuthParams(
            id_token=GetIdTokenIdTokenBody(id=token),
            scope=GetIdTokenIdScopeBody(project=GetIdTokenScopeDomainOrProjectBody(id=env("HW_PROJECT"))))))
    return iam.create_token_with_id_token(request)


def temporary_keys(iam, subject_token, duration=900):
    request = CreateTemporaryAccessKeyByTokenRequest(body=CreateTemporaryAccessKeyByTokenRequestBody(
        auth=TokenAuth(identity=TokenAuthIdentity(methods=["token"], token=IdentityToken(
            id=subject_token, duration_seconds=duration)))))
    return iam.create_temporary_access_key_by_token(request).credential


def nat(credentials):
    return NatClient.new_builder().with_credentials(credentials).with_endpoint(env("HW_ENDPOINT")).build()


def list_gateways(credentials):
    return len(nat(credentials).list_nat_gateways(ListNatGatewaysRequest(limit=10)).nat_gateways)


def exchange():
    endpoint, project, domain = env("HW_ENDPOINT"), env("HW_PROJECT"), env("HW_DOMAIN")
    iam = iam_client()
    out = {}

    token = federated_token(iam, read(env("TOKEN_FILE")))
    out["token"] = {"has_subject_token": bool(token.x_subject_token), "project": token.token.project.id,
                    "idp": token.token.user.os_federation.identity_provider.id, "user": token.token.user.name}
    keys = temporary_keys(iam, token.x_subject_token)
    expires = calendar.timegm(time.strptime(keys.expires_at, EXPIRES_FORMAT))
    out["keys"] = {"has_access": bool(keys.access), "has_secret": bool(keys.secret),
                   "has_security_token": bool(keys.securitytoken), "lifetime": round(expires - time.time())}

    temporary = BasicCredentials(keys.access, keys.secret, project).with_security_token(keys.securitytoken)
    out["nat"] = list_gateways(temporary)
    bss = BssClient.new_builder().with_endpoint(endpoint).with_credentials(
        GlobalCredentials(keys.access, keys.secret, domain).with_security_token(keys.securitytoken)).build()
    out["bss"] = bss.list_customer_orders(ListCustomerOrdersRequest(limit=10)).total_count
    iam_signed = IamClient.new_builder().with_endpoint(endpoint).with_credentials(
        GlobalCredentials(keys.access, keys.secret, domain).with_security_token(keys.securitytoken)).build()
    out["iam"] = [p.id for p in iam_signed.keystone_list_projects(
        KeystoneListProjectsRequest(name=env("HW_REGION"))).projects]
    out["nat_without_security_token"] = failure(lambda: list_gateways(BasicCredentials(keys.access, keys.secret,
                                                                                       project)))
    out["nat_wrong_security_token"] = failure(lambda: list_gateways(
        BasicCredentials(keys.access, keys.secret, project).with_security_token(keys.securitytoken + "x")))

    # The core SDK's own federation path: it makes both IAM calls, then signs.
    federated = BasicCredentials(project_id=project).with_idp_id(env("IDP_ID")) \
        .with_id_token_file(env("TOKEN_FILE")).with_iam_endpoint(endpoint)
    out["nat_with_idp_credentials"] = list_gateways(federated)

    out["other_subject"] = failure(lambda: federated_token(iam, read(env("OTHER_TOKEN_FILE"))))
    out["wrong_audience"] = failure(lambda: federated_token(iam, read(env("WRONG_AUDIENCE_TOKEN_FILE"))))
    out["unknown_idp"] = failure(lambda: federated_token(iam, read(env("TOKEN_FILE")), "no-such-idp"))
    out["not_a_jwt"] = failure(lambda: federated_token(iam, "not-a-jwt"))
    out["unknown_token"] = failure(lambda: temporary_keys(iam, "MIInot-issued"))
    out["duration_too_short"] = failure(lambda: temporary_keys(iam, token.x_subject_token, 899))

    # Past their expiry the temporary keys are refused.
    time.sleep(max(0.0, expires - time.time()) + 1.0)
    out["nat_expired"] = failure(lambda: list_gateways(temporary))
    # The core SDK notices and federates again.
    out["nat_with_idp_credentials_after_expiry"] = list_gateways(federated)
    print(json.dumps(out))


def request():
    federated = BasicCredentials().with_idp_id(env("IDP_ID")).with_id_token_file(env("TOKEN_FILE")) \
        .with_iam_endpoint(env("HW_ENDPOINT"))
    config = HttpConfig.get_default_config()
    config.ssl_ca_cert = env("HW_CA")
    # What a client does before its first call: federate (both IAM calls, unsigned), no call after.
    federated.process_sts(HttpClient(config, None, None, logging.getLogger("huawei_federation")))
    print(json.dumps({"access": federated.ak}))


{"exchange": exchange, "request": request}[sys.argv[1]]()
