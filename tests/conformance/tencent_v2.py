"""Drives Tencent Cloud API 2.0 through the official qcloudapi-sdk-python.

  sign                print the SDK's signatures for the fixed inputs read as JSON on stdin
  scenario            run calls against the simulator (env SIM_HOST = 127.0.0.1:PORT of its
                      HTTPS side, SIM_CONTROL = its http:// URL, SECRET_ID, SECRET_KEY; the CA
                      comes from SSL_CERT_FILE) and print what the SDK returned, as JSON
  strict              the same env (plus TOKEN_ID, TOKEN_KEY, TOKEN of a temporary credential):
                      every verb and signature method, Nonce replay, the documented error codes
                      and fields

Exit status 3: the SDK is not installed.
"""

import json
import os
import sys
import time
import urllib.request

try:
    from QcloudApi.common.sign import Sign
    from QcloudApi.modules.vpc import Vpc
    from QcloudApi.qcloudapi import QcloudApi
except ImportError as e:
    print("qcloudapi-sdk-python is not importable (%s): run "
          "~/.cache/natgw-operator/venv/bin/pip install -r tests/conformance/requirements.txt" % e,
          file=sys.stderr)
    sys.exit(3)


def sign():
    case = json.load(sys.stdin)
    out = {}
    for method in ("GET", "POST"):
        for sign_method in ("HmacSHA1", "HmacSHA256"):
            params = dict(case["params"], SignatureMethod=sign_method)
            out["%s/%s" % (method, sign_method)] = Sign(case["id"], case["key"]).make(
                case["host"], "/v2/index.php", params, method, sign_method)
    print(json.dumps(out))


def control(path, body):
    req = urllib.request.Request(os.environ["SIM_CONTROL"] + path, data=json.dumps(body).encode(),
                                 method="PUT", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def service(key=None, secret_id=None, method="POST", sign_method="HmacSHA256", token=None):
    config = {
        "Region": "ap-guangzhou",
        "secretId": secret_id or os.environ["SECRET_ID"],
        "secretKey": key or os.environ["SECRET_KEY"],
        "method": method,
        "SignatureMethod": sign_method,
    }
    if token:
        config["Token"] = token
    return QcloudApi("vpc", config)


def call(api, action, params):
    return json.loads(api.call(action, params))


def scenario():
    # The SDK takes the host from the module's class attribute; the port is signed with it.
    Vpc.requestHost = os.environ["SIM_HOST"]
    out = {}
    api = service()
    d = call(api, "DescribeNatGateway", {"natId": "nat-2"})
    out["describe"] = {"code": d["code"], "totalCount": d["totalCount"], "gateway": d["data"][0]}
    # GET with the SDK's default HmacSHA1 too.
    g = call(service(method="GET", sign_method="HmacSHA1"), "DescribeNatGateway", {"natId": "nat-2"})
    out["describe_get_sha1"] = g["data"][0]["maxConcurrent"]

    up = call(api, "UpgradeNatGateway", {"vpcId": "vpc-1", "natId": "nat-2", "maxConcurrent": 3000000})
    out["upgrade"] = up
    out["bill_running"] = call(api, "QueryNatGatewayProductionStatus", {"billId": up["billId"]})["data"]["status"]
    out["during"] = call(api, "DescribeNatGateway", {"natId": "nat-2"})["data"][0]["productionStatus"]
    out["busy"] = call(api, "UpgradeNatGateway", {"vpcId": "vpc-1", "natId": "nat-2", "maxConcurrent": 10000000})
    out["not_found"] = call(api, "UpgradeNatGateway", {"vpcId": "vpc-1", "natId": "nat-missing", "maxConcurrent": 3000000})
    out["bad_signature"] = call(service(key="wrong"), "DescribeNatGateway", {"natId": "nat-2"})
    out["unknown_id"] = call(service(secret_id="AKIDnobody"), "DescribeNatGateway", {"natId": "nat-2"})
    control("/_sim/ratelimits", {"DescribeNatGateway": 1})
    call(api, "DescribeNatGateway", {"natId": "nat-2"})
    out["throttled"] = call(api, "DescribeNatGateway", {"natId": "nat-2"})
    control("/_sim/ratelimits", {"DescribeNatGateway": 100})

    time.sleep(float(os.environ.get("CHANGE_SECONDS", "1")) + 0.3)
    out["bill_done"] = call(api, "QueryNatGatewayProductionStatus", {"billId": up["billId"]})["data"]["status"]
    out["after"] = call(api, "DescribeNatGateway", {"natId": "nat-2"})["data"][0]
    print(json.dumps(out))


# DescribeNatGateway's documented fields.
FIELDS = ["natId", "unVpcId", "natName", "maxConcurrent", "bandwidth", "eipCount", "eipSet", "createTime", "state",
          "productionStatus"]


def strict():
    Vpc.requestHost = os.environ["SIM_HOST"]
    api = service()
    out = {}

    def error(action, params, s=api):
        r = call(s, action, params)
        return {"code": r["code"], "codeDesc": r.get("codeDesc")}

    out["forms"] = {
        "%s/%s" % (m, sm): call(service(method=m, sign_method=sm), "DescribeNatGateway", {"natId": "nat-2"})
        ["data"][0]["maxConcurrent"]
        for m in ("GET", "POST") for sm in ("HmacSHA1", "HmacSHA256")
    }
    out["bad_signature"] = {
        "%s/%s" % (m, sm): error("DescribeNatGateway", {"natId": "nat-2"}, service(key="wrong", method=m, sign_method=sm))
        ["code"]
        for m in ("GET", "POST") for sm in ("HmacSHA1", "HmacSHA256")
    }
    # The SDK draws a random Nonce unless one is given: the same one twice is a replay.
    first = call(api, "DescribeNatGateway", {"natId": "nat-2", "Nonce": 4242})
    out["replay"] = {"first": first["code"], "again": error("DescribeNatGateway", {"natId": "nat-2", "Nonce": 4242}),
                     "other_nonce": call(api, "DescribeNatGateway", {"natId": "nat-2", "Nonce": 4243})["code"]}
    out["expired"] = error("DescribeNatGateway", {"natId": "nat-2", "Timestamp": int(time.time()) - 400})
    out["bad_nonce"] = error("DescribeNatGateway", {"natId": "nat-2", "Nonce": "soon"})
    out["invalid_secret_id"] = error("DescribeNatGateway", {"natId": "nat-2"}, service(secret_id="not-an-api-key"))
    token = {"secret_id": os.environ["TOKEN_ID"], "key": os.environ["TOKEN_KEY"]}
    out["token_missing"] = error("DescribeNatGateway", {"natId": "nat-2"}, service(**token))
    out["token_ok"] = call(service(token=os.environ["TOKEN"], **token), "DescribeNatGateway", {"natId": "nat-2"})["code"]
    out["malformed_nat"] = error("DescribeNatGateway", {"natId": "NAT-2"})
    out["malformed_vpc"] = error("UpgradeNatGateway", {"vpcId": "vpc_1", "natId": "nat-2", "maxConcurrent": 3000000})
    out["missing"] = error("UpgradeNatGateway", {"vpcId": "vpc-1", "maxConcurrent": 3000000})
    out["size_not_sold"] = error("UpgradeNatGateway", {"vpcId": "vpc-1", "natId": "nat-2", "maxConcurrent": 2000000})
    out["not_a_number"] = error("UpgradeNatGateway", {"vpcId": "vpc-1", "natId": "nat-2", "maxConcurrent": "lots"})
    out["limit_51"] = error("DescribeNatGateway", {"limit": 51})
    out["unknown_bill"] = error("QueryNatGatewayProductionStatus", {"billId": "201600000000000000000000000000"})
    out["unknown_action"] = error("UpgradeNatGatewayz", {})
    unchanged = call(api, "UpgradeNatGateway", {"vpcId": "vpc-1", "natId": "nat-1", "maxConcurrent": 1000000})
    out["unchanged"] = {"code": unchanged["code"], "bill": call(api, "QueryNatGatewayProductionStatus",
                                                               {"billId": unchanged["billId"]})["data"]["status"],
                        "state": call(api, "DescribeNatGateway", {"natId": "nat-1"})["data"][0]["productionStatus"]}
    g = call(api, "DescribeNatGateway", {"natId": "nat-2"})["data"][0]
    out["missing_fields"] = [f for f in FIELDS if g.get(f) is None]
    print(json.dumps(out))


{"sign": sign, "scenario": scenario, "strict": strict}[sys.argv[1]]()
