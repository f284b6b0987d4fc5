"""Drives Tencent Cloud's Tag API (tencentcloud-sdk-python-tag: TagResources, UnTagResources,
GetResources), STS GetCallerIdentity (tencentcloud-sdk-python-common's CommonClient, service sts,
2018-08-13) and DescribeNatGateways' TagSet (tencentcloud-sdk-python-vpc) against the simulator,
all on its one plain-HTTP port.

  scenario   env: SIM_HOST (127.0.0.1:PORT), SIM_CONTROL (http:// URL), SECRET_ID, SECRET_KEY
             (a key of account ACCOUNT), OTHER_ID, OTHER_KEY (a key of account OTHER_ACCOUNT),
             GATEWAY (a gateway in ap-guangzhou), SECOND (another one), DELAY_MS (the tag delay
             the script sets); prints what the SDKs parsed, as JSON.

Exit status 3: the SDKs are not installed.
"""

import json
import os
import sys
import time
import urllib.request

try:
    from tencentcloud.common import credential
    from tencentcloud.common.common_client import CommonClient
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.tag.v20180813 import models as tag_models, tag_client
    from tencentcloud.vpc.v20170312 import models as vpc_models, vpc_client
except ImportError as e:
    print("the Tencent Cloud SDKs are not importable (%s): run "
          "~/.cache/natgw-operator/venv/bin/pip install -r tests/conformance/requirements.txt" % e,
          file=sys.stderr)
    sys.exit(3)

REGION = "ap-guangzhou"
KEY = "natgw.io/claim"


def profile():
    http = HttpProfile()
    http.endpoint = os.environ["SIM_HOST"]
    http.scheme = "http"
    return ClientProfile(httpProfile=http)


def cred(prefix="SECRET"):
    if prefix == "SECRET":
        return credential.Credential(os.environ["SECRET_ID"], os.environ["SECRET_KEY"])
    return credential.Credential(os.environ["OTHER_ID"], os.environ["OTHER_KEY"])


def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(os.environ["SIM_CONTROL"] + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(req).read()


def error_code(f):
    try:
        f()
    except TencentCloudSDKException as e:
        return e.get_code()
    return None


def name(nat_id, uin=None):
    return "qcs::vpc:%s:uin/%s:nat/%s" % (REGION, uin or os.environ["ACCOUNT"], nat_id)


def tag(c, resources, pairs):
    r = tag_models.TagResourcesRequest()
    r.ResourceList = resources
    tags = []
    for k, v in pairs:
        t = tag_models.Tag()
        t.TagKey, t.TagValue = k, v
        tags.append(t)
    r.Tags = tags
    return c.TagResources(r)


def untag(c, resources, keys):
    r = tag_models.UnTagResourcesRequest()
    r.ResourceList = resources
    r.TagKeys = keys
    return c.UnTagResources(r)


def get(c, filters=None, token=None, max_results=None, resources=None):
    r = tag_models.GetResourcesRequest()
    if filters is not None:
        fs = []
        for k, values in filters:
            f = tag_models.TagFilter()
            f.TagKey = k
            f.TagValue = values
            fs.append(f)
        r.TagFilters = fs
    r.PaginationToken = token
    r.MaxResults = max_results
    r.ResourceList = resources
    resp = c.GetResources(r)
    return {"token": resp.PaginationToken,
            "mappings": [{"resource": m.Resource, "tags": {t.TagKey: t.TagValue for t in m.Tags}}
                         for m in resp.ResourceTagMappingList]}


def tag_set(vpc, nat_id):
    r = vpc_models.DescribeNatGatewaysRequest()
    r.NatGatewayIds = [nat_id]
    g = vpc.DescribeNatGateways(r).NatGatewaySet[0]
    return {t.Key: t.Value for t in g.TagSet}


def failed(resp):
    return [{"resource": f.Resource, "code": f.Code} for f in resp.FailedResources]


def scenario():
    gw, second = os.environ["GATEWAY"], os.environ["SECOND"]
    delay = int(os.environ["DELAY_MS"]) / 1000.0
    tags = tag_client.TagClient(cred(), REGION, profile())
    vpc = vpc_client.VpcClient(cred(), REGION, profile())
    out = {}

    for who in ("SECRET", "OTHER"):
        sts = CommonClient("sts", "2018-08-13", cred(who), REGION, profile())
        ident = sts.call_json("GetCallerIdentity", {})["Response"]
        out["identity_" + who.lower()] = {k: ident[k] for k in ("AccountId", "Arn", "UserId", "PrincipalId", "Type")}

    control("PUT", "/_sim/tag-delay", {"millis": int(delay * 1000)})
    out["before"] = tag_set(vpc, gw)
    resp = tag(tags, [name(gw), name("nat-missing")], [(KEY, "cluster-a.platform.egress"), ("team", "net")])
    out["tag_failed"] = failed(resp)
    # Right after the write: not visible anywhere yet.
    out["describe_at_once"] = tag_set(vpc, gw)
    out["get_at_once"] = get(tags, filters=[(KEY, [])])
    time.sleep(delay + 0.5)
    out["describe_later"] = tag_set(vpc, gw)
    out["get_later"] = get(tags, filters=[(KEY, ["cluster-a.platform.egress", "other"])])
    out["get_listed"] = get(tags, resources=[name(gw), name(second)])

    # Two writes in a row to one key: the last one wins once both are visible.
    tag(tags, [name(gw)], [(KEY, "cluster-b.x.y")])
    tag(tags, [name(gw)], [(KEY, "cluster-c.x.y")])
    time.sleep(delay + 0.5)
    out["last_writer"] = tag_set(vpc, gw).get(KEY)

    # Paging over every tagged gateway, one a page.
    pages, token = [], None
    while True:
        page = get(tags, max_results=1, token=token)
        pages.append([m["resource"] for m in page["mappings"]])
        token = page["token"]
        if not token:
            break
    out["pages"] = pages

    out["errors"] = {
        "reserved": error_code(lambda: tag(tags, [name(gw)], [("qcloud:owner", "x")])),
        "long_key": error_code(lambda: tag(tags, [name(gw)], [("k" * 128, "x")])),
        "long_value": error_code(lambda: tag(tags, [name(gw)], [("k", "v" * 256)])),
        "bad_char": error_code(lambda: tag(tags, [name(gw)], [("a#b", "x")])),
        "empty_value": error_code(lambda: tag(tags, [name(gw)], [("k", "")])),
        "duplicate": error_code(lambda: tag(tags, [name(gw)], [("k", "1"), ("k", "2")])),
        "other_account": error_code(lambda: tag(tags, [name(gw, os.environ["OTHER_ACCOUNT"])], [("k", "v")])),
        "too_many_resources": error_code(lambda: tag(tags, [name(gw)] * 11, [("k", "v")])),
        "not_a_name": error_code(lambda: tag(tags, [gw], [("k", "v")])),
        "max_results": error_code(lambda: get(tags, max_results=201)),
        "token": error_code(lambda: get(tags, token="forged")),
    }
    other_tags = tag_client.TagClient(cred("OTHER"), REGION, profile())
    out["other_account_own_name"] = failed(tag(other_tags, [name(gw, os.environ["OTHER_ACCOUNT"])], [("k", "v")]))

    # 50 tags at most on one gateway: 10 a call, the sixth call of ten new keys fails for it.
    for n in range(4):
        tag(tags, [name(second)], [("bulk-%d-%d" % (n, i), "v") for i in range(10)])
    out["over_limit"] = failed(tag(tags, [name(second)], [("bulk-9-%d" % i, "v") for i in range(10)]))

    # An injected refusal of the next TagResources.
    control("POST", "/_sim/faults", {"action": "TagResources", "kind": "error",
                                     "code": "FailedOperation.ResourceTagProcessing"})
    out["injected"] = error_code(lambda: tag(tags, [name(gw)], [("k", "v")]))

    # A person edits the tags in the console: visible at once.
    control("PUT", "/_sim/gateways/%s/tags" % gw, {KEY: "handed-over"})
    out["console"] = tag_set(vpc, gw).get(KEY)

    out["untag_failed"] = failed(untag(tags, [name(gw)], [KEY, "never-set"]))
    out["untag_at_once"] = KEY in tag_set(vpc, gw)
    time.sleep(delay + 0.5)
    out["untag_later"] = KEY in tag_set(vpc, gw)
    print(json.dumps(out))


if __name__ == "__main__":
    {"scenario": scenario}[sys.argv[1]]()
