"""Drives Tencent Cloud API 3.0 through the official tencentcloud-sdk-python-vpc.

  sign                print the SDK's Authorization, body and headers for the fixed inputs read
                      as JSON on stdin (time is pinned to the case's timestamp)
  scenario            run calls against the simulator's plain-HTTP side (env SIM_HOST =
                      127.0.0.1:PORT, SIM_CONTROL = http:// URL, SECRET_ID, SECRET_KEY) and print
                      what the SDK parsed, as JSON

Exit status 3: the SDK is not installed.
"""

import json
import os
import sys
import time
import urllib.request

try:
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.common.http.request import RequestInternal
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.vpc.v20170312 import models, vpc_client
except ImportError as e:
    print("tencentcloud-sdk-python-vpc is not importable (%s): run "
          "~/.cache/natgw-operator/venv/bin/pip install -r tests/conformance/requirements.txt" % e,
          file=sys.stderr)
    sys.exit(3)


def client(host, secret_id, key):
    http = HttpProfile()
    http.endpoint = host
    http.scheme = "http"
    return vpc_client.VpcClient(credential.Credential(secret_id, key), "ap-guangzhou",
                                ClientProfile(httpProfile=http))


def sign():
    case = json.load(sys.stdin)
    time.time = lambda: case["timestamp"]
    c = client(case["host"], case["id"], case["key"])
    req = RequestInternal(case["host"], "POST", "/")
    c._build_req_inter(case["action"], case["params"], req)
    print(json.dumps({"authorization": req.header["Authorization"], "body": req.data,
                      "contentType": req.header["Content-Type"]}))


def control(path, body):
    req = urllib.request.Request(os.environ["SIM_CONTROL"] + path, data=json.dumps(body).encode(),
                                 method="PUT", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def error_code(f):
    try:
        f()
    except TencentCloudSDKException as e:
        return {"code": e.get_code(), "requestId": e.get_request_id()}
    return None


def describe(c, ids):
    r = models.DescribeNatGatewaysRequest()
    r.NatGatewayIds = ids
    return c.DescribeNatGateways(r)


def reset(c, nat_id, size):
    r = models.ResetNatGatewayConnectionRequest()
    r.NatGatewayId = nat_id
    r.MaxConcurrentConnection = size
    return c.ResetNatGatewayConnection(r)


def scenario():
    host, sid, key = os.environ["SIM_HOST"], os.environ["SECRET_ID"], os.environ["SECRET_KEY"]
    c = client(host, sid, key)
    out = {}
    d = describe(c, ["nat-1"])
    g = d.NatGatewaySet[0]
    out["describe"] = {"total": d.TotalCount, "id": g.NatGatewayId, "state": g.State,
                       "max": g.MaxConcurrentConnection, "vpc": g.VpcId, "requestId": d.RequestId}
    out["resize"] = reset(c, "nat-1", 3000000).RequestId
    out["during"] = describe(c, ["nat-1"]).NatGatewaySet[0].State
    out["busy"] = error_code(lambda: reset(c, "nat-1", 10000000))
    out["not_found"] = error_code(lambda: reset(c, "nat-missing", 3000000))
    out["bad_signature"] = error_code(lambda: describe(client(host, sid, "wrong"), ["nat-1"]))
    out["unknown_id"] = error_code(lambda: describe(client(host, "AKIDnobody", key), ["nat-1"]))
    out["too_many_ids"] = error_code(lambda: describe(c, ["nat-%d" % i for i in range(101)]))
    control("/_sim/ratelimits", {"DescribeNatGateways": 1})
    describe(c, ["nat-1"])
    out["throttled"] = error_code(lambda: describe(c, ["nat-1"]))
    control("/_sim/ratelimits", {"DescribeNatGateways": 100})

    time.sleep(float(os.environ.get("CHANGE_SECONDS", "1")) + 0.3)
    g = describe(c, ["nat-1"]).NatGatewaySet[0]
    out["after"] = {"state": g.State, "max": g.MaxConcurrentConnection}
    print(json.dumps(out))


{"sign": sign, "scenario": scenario}[sys.argv[1]]()
