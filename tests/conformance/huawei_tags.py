"""Drives the tag calls of huaweicloudsdknat's NatClient (NAT v3 paths) against the simulator:
BatchCreateDeleteNatGatewayTag, CreateNatGatewayTag, DeleteNatGatewayTag, ShowNatGatewayTag,
ListNatGatewayTag and ListNatGatewayByTag.

  huawei_tags.py scenario   env: HW_ENDPOINT (http:// URL, also the control API), HW_AK, HW_SK,
                            HW_PROJECT, GATEWAY and SECOND (ACTIVE gateways of the project),
                            DELAY_MS (the tag delay the script sets); prints a JSON report.

Exit code 3 when the SDKs are not importable.
"""

import json
import os
import sys
import time
import urllib.request

try:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.exceptions import exceptions
    from huaweicloudsdknat.v2 import (BatchCreateDeleteNatGatewayTagRequest, BatchCreateDeleteNatTagsRequestBody,
                                      CreateNatGatewayTagRequest, CreateNatTagRequestBody,
                                      DeleteNatGatewayTagRequest, ListNatGatewayByTagRequest,
                                      ListNatGatewayTagRequest, ListNatsByTagsRequestBody, NatClient, PublicMatch,
                                      PublicTag, PublicTags, ShowNatGatewayTagRequest, TagBody)
except ImportError as e:  # pragma: no cover - reported by the Rust test
    print(f"the Huawei Cloud SDKs are not importable: {e}; pip install -r tests/conformance/requirements.txt",
          file=sys.stderr)
    sys.exit(3)

KEY = "natgw-claim"


def env(name):
    return os.environ[name]


def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(env("HW_ENDPOINT") + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def failure(call):
    try:
        call()
    except exceptions.ServiceResponseException as e:
        return {"status": e.status_code, "code": e.error_code}
    return None


def batch(nat, gw, action, pairs):
    body = BatchCreateDeleteNatTagsRequestBody(action=action, tags=[PublicTags(key=k, value=v) for k, v in pairs])
    return nat.batch_create_delete_nat_gateway_tag(BatchCreateDeleteNatGatewayTagRequest(nat_gateway_id=gw, body=body))


def show(nat, gw):
    tags = nat.show_nat_gateway_tag(ShowNatGatewayTagRequest(nat_gateway_id=gw)).tags
    return {t.key: t.value for t in tags}


def by_tag(nat, action="filter", tags=None, not_tags_any=None, matches=None, limit=None, offset=None):
    def filters(pairs):
        return None if pairs is None else [PublicTag(key=k, values=v) for k, v in pairs]
    body = ListNatsByTagsRequestBody(action=action, tags=filters(tags), not_tags_any=filters(not_tags_any),
                                     matches=None if matches is None else [PublicMatch(key=k, value=v) for k, v in matches],
                                     limit=limit, offset=offset)
    resp = nat.list_nat_gateway_by_tag(ListNatGatewayByTagRequest(body=body))
    resources = [{"id": r.resource_id, "name": r.resource_name, "tags": {t.key: t.value for t in r.tags}}
                 for r in (resp.resources or [])]
    return {"resources": resources, "total": resp.total_count}


def scenario():
    nat = NatClient.new_builder().with_credentials(BasicCredentials(env("HW_AK"), env("HW_SK"), env("HW_PROJECT"))) \
        .with_endpoint(env("HW_ENDPOINT")).build()
    gw, second = env("GATEWAY"), env("SECOND")
    delay = int(env("DELAY_MS")) / 1000.0
    control("PUT", "/_sim/tag-delay", {"millis": int(delay * 1000)})
    report = {"before": show(nat, gw)}

    resp = batch(nat, gw, "create", [(KEY, "cluster-a.platform.egress"), ("team", "net")])
    report["batch_status"] = resp.status_code
    report["show_at_once"] = show(nat, gw)
    report["by_tag_at_once"] = by_tag(nat, tags=[(KEY, [])])
    time.sleep(delay + 0.5)
    report["show_later"] = show(nat, gw)
    report["by_tag_later"] = by_tag(nat, tags=[(KEY, ["other", "cluster-a.platform.egress"])])
    report["by_tag_fuzzy"] = by_tag(nat, tags=[(KEY, ["*platform"])])
    report["count"] = by_tag(nat, action="count", tags=[(KEY, [])])["total"]
    report["untagged"] = by_tag(nat, not_tags_any=[(KEY, [])])
    report["by_id"] = by_tag(nat, matches=[("resource_id", second)])
    report["page"] = by_tag(nat, limit="1", offset="1")

    # Two writes in a row to one key: the last one wins once both are visible.
    batch(nat, gw, "create", [(KEY, "cluster-b")])
    batch(nat, gw, "create", [(KEY, "cluster-c")])
    time.sleep(delay + 0.5)
    report["last_writer"] = show(nat, gw).get(KEY)

    # Delete with a value that is not the gateway's removes nothing; without a value, the key.
    batch(nat, gw, "delete", [(KEY, "cluster-b")])
    batch(nat, gw, "delete", [("team", None)])
    time.sleep(delay + 0.5)
    report["after_deletes"] = show(nat, gw)

    report["create_one"] = nat.create_nat_gateway_tag(CreateNatGatewayTagRequest(
        nat_gateway_id=second, body=CreateNatTagRequestBody(tag=TagBody(key="owner", value="x")))).status_code
    report["delete_one"] = nat.delete_nat_gateway_tag(DeleteNatGatewayTagRequest(nat_gateway_id=second,
                                                                                 key="owner")).status_code
    time.sleep(delay + 0.5)
    report["second_after"] = show(nat, second)
    report["keys"] = {t.key: sorted(t.values) for t in nat.list_nat_gateway_tag(ListNatGatewayTagRequest()).tags}

    report["errors"] = {
        "slash_in_key": failure(lambda: batch(nat, gw, "create", [("natgw.io/claim", "v")])),
        "long_key": failure(lambda: batch(nat, gw, "create", [("k" * 129, "v")])),
        "long_value": failure(lambda: batch(nat, gw, "create", [("k", "v" * 256)])),
        "duplicate": failure(lambda: batch(nat, gw, "create", [("k", "1"), ("k", "2")])),
        "bad_action": failure(lambda: batch(nat, gw, "replace", [("k", "1")])),
        "too_many": failure(lambda: batch(nat, second, "create", [("k%d" % i, "v") for i in range(21)])),
        "unknown_gateway": failure(lambda: batch(nat, "gw-none", "create", [("k", "v")])),
        "filter_limit": failure(lambda: by_tag(nat, limit="1001")),
    }
    # 20 at most: 19 more on the gateway that has one key, then one more is refused.
    batch(nat, gw, "create", [("bulk%d" % i, "v") for i in range(19)])
    report["twenty_first"] = failure(lambda: batch(nat, gw, "create", [("bulk-over", "v")]))
    report["overwrite_at_limit"] = failure(lambda: batch(nat, gw, "create", [("bulk0", "new")]))

    control("POST", "/_sim/faults", {"action": "BatchCreateDeleteNatGatewayTag", "kind": "error",
                                     "code": "NAT.0007"})
    report["injected"] = failure(lambda: batch(nat, gw, "create", [("bulk0", "v")]))

    control("PUT", "/_sim/gateways/%s/tags" % second, {KEY: "handed-over"})
    report["console"] = show(nat, second).get(KEY)
    print(json.dumps(report))


if __name__ == "__main__":
    {"scenario": scenario}[sys.argv[1]]()
