"""Drives Tencent Cloud API 3.0 through the official tencentcloud-sdk-python-vpc.

  sign                print the SDK's Authorization, body and headers for the fixed inputs read
                      as JSON on stdin (time is pinned to the case's timestamp)
  scenario            run calls against the simulator's plain-HTTP side (env SIM_HOST =
                      127.0.0.1:PORT, SIM_CONTROL = http:// URL, SECRET_ID, SECRET_KEY) and print
                      what the SDK parsed, as JSON
  forms               the same env: one read, one change of nothing and one refused signature
                      in every verb and signature method the SDK offers, and one real resize
  strict              the same env (plus TOKEN_ID, TOKEN_KEY, TOKEN of a temporary credential):
                      the documented error codes, and the fields of the NatGateway model

Exit status 3: the SDK is not installed.
"""

import json
import os
import sys
import time
import urllib.request
import warnings

try:
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.common.http.request import RequestInternal
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.abstract_model import AbstractModel
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.vpc.v20170312 import models, vpc_client
except ImportError as e:
    print("tencentcloud-sdk-python-vpc is not importable (%s): run "
          "~/.cache/natgw-operator/venv/bin/pip install -r tests/conformance/requirements.txt" % e,
          file=sys.stderr)
    sys.exit(3)


def client(host, secret_id, key, method="POST", sign_method=None, token=None):
    http = HttpProfile(reqMethod=method)
    http.endpoint = host
    http.scheme = "http"
    return vpc_client.VpcClient(credential.Credential(secret_id, key, token), "ap-guangzhou",
                                ClientProfile(httpProfile=http, signMethod=sign_method))


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


FORMS = [("POST", "TC3-HMAC-SHA256"), ("GET", "TC3-HMAC-SHA256"), ("POST", "HmacSHA1"),
         ("GET", "HmacSHA1"), ("POST", "HmacSHA256"), ("GET", "HmacSHA256")]


def forms():
    host, sid, key = os.environ["SIM_HOST"], os.environ["SECRET_ID"], os.environ["SECRET_KEY"]
    out = {}
    for method, sign_method in FORMS:
        c = client(host, sid, key, method, sign_method)
        d = describe(c, ["nat-1"])
        f = models.DescribeNatGatewaysRequest()
        f.Filters = [models.Filter()]
        f.Filters[0].Name, f.Filters[0].Values = "vpc-id", ["vpc-1"]
        f.Limit = 1
        out["%s/%s" % (method, sign_method)] = {
            "max": d.NatGatewaySet[0].MaxConcurrentConnection,
            "filtered": [g.NatGatewayId for g in c.DescribeNatGateways(f).NatGatewaySet],
            "unchanged": bool(reset(c, "nat-1", d.NatGatewaySet[0].MaxConcurrentConnection).RequestId),
            "bad_signature": error_code(lambda: describe(client(host, sid, "wrong", method, sign_method),
                                                         ["nat-1"]))["code"],
        }
    out["resize"] = reset(client(host, sid, key, "GET", "HmacSHA256"), "nat-2", 3000000).RequestId
    print(json.dumps(out))


def unset_fields(model, prefix=""):
    """Names of the model's fields (nested models and lists of them too) the answer left out."""
    unset = []
    for name, value in vars(model).items():
        path = prefix + name.lstrip("_")
        if value is None:
            unset.append(path)
        elif isinstance(value, AbstractModel):
            unset += unset_fields(value, path + ".")
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, AbstractModel):
                    unset += unset_fields(item, path + "[].")
    return sorted(set(unset))


def raw(host, method, body=b"", headers=None):
    """A request the SDK cannot make; returns the parsed Response.Error."""
    req = urllib.request.Request("http://%s/" % host, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req) as r:
        return {"status": r.status, "contentType": r.headers["Content-Type"],
                "code": json.loads(r.read())["Response"]["Error"]["Code"]}


def strict():
    host, sid, key = os.environ["SIM_HOST"], os.environ["SECRET_ID"], os.environ["SECRET_KEY"]
    c = client(host, sid, key)
    out = {}

    def code(f):
        return error_code(f)["code"]

    def described(**fields):
        r = models.DescribeNatGatewaysRequest()
        for k, v in fields.items():
            setattr(r, k, v)
        return c.DescribeNatGateways(r)

    def filters(*pairs):
        out = []
        for name, values in pairs:
            f = models.Filter()
            f.Name, f.Values = name, values
            out.append(f)
        return out

    out["malformed_ids"] = code(lambda: describe(c, ["nat-1", "NAT-2"]))
    out["malformed_filter"] = code(lambda: described(Filters=filters(("nat-gateway-id", ["nat_1"]))))
    out["malformed_reset"] = code(lambda: reset(c, "vpc-1", 3000000))
    out["limit_101"] = code(lambda: described(Limit=101))
    out["limit_0"] = code(lambda: described(Limit=0))
    out["offset_negative"] = code(lambda: described(Offset=-1))
    out["coexist"] = code(lambda: described(NatGatewayIds=["nat-1"], Filters=filters(("vpc-id", ["vpc-1"]))))
    out["filter_key"] = code(lambda: described(Filters=filters(("colour", ["red"]))))
    out["filter_not_dict"] = code(lambda: c.call_json("DescribeNatGateways", {"Filters": ["vpc-id"]}))
    out["filter_values_not_list"] = code(
        lambda: c.call_json("DescribeNatGateways", {"Filters": [{"Name": "vpc-id", "Values": "vpc-1"}]}))
    out["tag_filter"] = [g.NatGatewayId for g in described(Filters=filters(("tag-key", ["managed-by"]))).NatGatewaySet]
    out["unknown_parameter"] = code(lambda: c.call_json("DescribeNatGateways", {"NatGatewayID": ["nat-1"]}))
    out["missing_parameter"] = code(lambda: c.call_json("ResetNatGatewayConnection", {"NatGatewayId": "nat-1"}))
    out["wrong_type"] = code(lambda: c.call_json("ResetNatGatewayConnection",
                                                 {"NatGatewayId": "nat-1", "MaxConcurrentConnection": "lots"}))
    out["size_not_sold"] = code(lambda: reset(c, "nat-1", 2000000))
    out["not_found"] = code(lambda: reset(c, "nat-0notfound", 3000000))
    out["unknown_action"] = code(lambda: c.call_json("DescribeNatGatewayz", {}))
    old = client(host, sid, key)
    old._apiVersion = "2016-01-01"
    out["no_such_version"] = code(lambda: describe(old, ["nat-1"]))
    out["invalid_secret_id"] = code(lambda: describe(client(host, "not-an-api-key", key), ["nat-1"]))
    token = (os.environ["TOKEN_ID"], os.environ["TOKEN_KEY"])
    out["token_missing"] = code(lambda: describe(client(host, *token), ["nat-1"]))
    out["token_wrong"] = code(lambda: describe(client(host, *token, token="forged"), ["nat-1"]))
    out["token_ok"] = describe(client(host, *token, token=os.environ["TOKEN"]), ["nat-1"]).TotalCount
    real_time = time.time
    time.time = lambda: real_time() - 400
    try:
        out["expired"] = {f: code(lambda: describe(client(host, sid, key, "POST", f), ["nat-1"]))
                          for f in ("TC3-HMAC-SHA256", "HmacSHA256")}
    finally:
        time.time = real_time
    out["put"] = raw(host, "PUT", b"{}", {"Content-Type": "application/json"})
    out["xml"] = raw(host, "POST", b"<x/>", {"Content-Type": "text/xml"})
    tc3 = {"Content-Type": "application/json", "X-TC-Action": "DescribeNatGateways", "X-TC-Version": "2017-03-12",
           "X-TC-Timestamp": str(int(time.time()))}
    out["bearer"] = raw(host, "POST", b"{}", dict(tc3, Authorization="Bearer x"))["code"]
    out["no_action"] = raw(host, "POST", b"{}", {k: v for k, v in tc3.items() if k != "X-TC-Action"})["code"]
    out["unchanged"] = bool(reset(c, "nat-1", 1000000).RequestId)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = describe(c, ["nat-1"])
    out["fields"] = {"unset": unset_fields(d.NatGatewaySet[0]), "verbose": d.VerboseLevel,
                     "ignored": [str(w.message) for w in caught]}
    print(json.dumps(out))


{"sign": sign, "scenario": scenario, "forms": forms, "strict": strict}[sys.argv[1]]()
