"""Drives the Alibaba Cloud simulator with the official SDKs: alibabacloud-vpc20160428 and
alibabacloud-bssopenapi20171214 on alibabacloud-tea-openapi, once per signature the SDK can send
(V3 ACS3-HMAC-SHA256, its default `do_request`, and the RPC HMAC-SHA1 signature with
`signature_algorithm='v2'`, `do_rpcrequest`), each on its own region's gateways.

  scenario   env: SIM_HOST (localhost:PORT of the simulator's HTTPS side; SSL_CERT_FILE its CA),
             SIM_CONTROL (its HTTP URL, for /_sim/requests), ACCESS_KEY_ID, ACCESS_KEY_SECRET,
             TOKEN_KEY_ID, TOKEN_KEY_SECRET, SECURITY_TOKEN (a key that needs its token),
             CHANGE_SECONDS. Each style's region holds `ngw-<style>-post` (PostPaid, Small),
             `ngw-<style>-pre` (PrePaid, Small) and `ngw-<style>-large` (PostPaid, Large).
             Prints {style: {check: result}} as JSON, the error codes the SDK raised included.

Exit status 3: the SDKs are not installed.
"""

import contextlib
import json
import os
import sys
import time
import urllib.request


@contextlib.contextmanager
def require():
    """Exits 3, saying how to install them, when the SDKs imported inside are missing."""
    try:
        yield
    except ImportError as e:
        print("the Alibaba Cloud SDKs are not importable (%s): run "
              "~/.cache/natgw-operator/venv/bin/pip install -r tests/conformance/requirements.txt" % e,
              file=sys.stderr)
        sys.exit(3)


with require():
    from alibabacloud_bssopenapi20171214 import models as bss_models
    from alibabacloud_bssopenapi20171214.client import Client as BssClient
    from alibabacloud_tea_openapi.utils_models import Config
    from alibabacloud_vpc20160428 import models as vpc_models
    from alibabacloud_vpc20160428.client import Client as VpcClient

HOST = os.environ.get("SIM_HOST", "")
STYLES = {"v3": ("cn-hangzhou", None), "rpc": ("cn-beijing", "v2")}


def config(algorithm, key=None, secret=None, token=None):
    return Config(access_key_id=key or os.environ["ACCESS_KEY_ID"],
                  access_key_secret=secret or os.environ["ACCESS_KEY_SECRET"],
                  security_token=token, endpoint=HOST, protocol="https",
                  signature_algorithm=algorithm)


def code(call):
    """The error code the SDK raised, or "ok"."""
    try:
        call()
        return "ok"
    except Exception as e:  # the SDK's ClientException / ServerException carry the answer's Code
        return getattr(e, "code", None) or repr(e)


def gateway(vpc, region, gid):
    body = vpc.describe_nat_gateways(vpc_models.DescribeNatGatewaysRequest(
        region_id=region, nat_gateway_id=gid)).body
    return body.nat_gateways.nat_gateway[0]


def wait_available(vpc, region, gid):
    deadline = time.time() + 10 * float(os.environ.get("CHANGE_SECONDS", "1")) + 5
    seen = []
    while time.time() < deadline:
        g = gateway(vpc, region, gid)
        seen.append(g.status)
        if g.status == "Available":
            return g.spec, sorted(set(seen))
        time.sleep(0.2)
    return None, sorted(set(seen))


def modify(vpc, region, gid, spec, auto_pay=None, token=None):
    return vpc.modify_nat_gateway_spec(vpc_models.ModifyNatGatewaySpecRequest(
        region_id=region, nat_gateway_id=gid, spec=spec, auto_pay=auto_pay, client_token=token)).body


def orders(bss, status=None):
    body = bss.query_orders(bss_models.QueryOrdersRequest(
        product_code="nat_gw", order_type="Upgrade", payment_status=status, page_size=100)).body
    return body.data.order_list.order


def detail(bss, order_id):
    return bss.get_order_detail(bss_models.GetOrderDetailRequest(order_id=order_id)).body.data.order_list.order[0]


def orders_of(bss, gid, status=None):
    return [o.order_id for o in orders(bss, status) if detail(bss, o.order_id).instance_ids == gid]


def scenario(style):
    region, algorithm = STYLES[style]
    vpc, bss = VpcClient(config(algorithm)), BssClient(config(algorithm))
    post, pre, large = ("ngw-%s-%s" % (style, n) for n in ("post", "pre", "large"))
    out = {}

    # Batched drift reads: pages of DescribeNatGateways, and the fields the operator reads.
    page1 = vpc.describe_nat_gateways(vpc_models.DescribeNatGatewaysRequest(
        region_id=region, page_size=2, page_number=1)).body
    page2 = vpc.describe_nat_gateways(vpc_models.DescribeNatGatewaysRequest(
        region_id=region, page_size=2, page_number=2)).body
    out["pages"] = [page1.total_count, len(page1.nat_gateways.nat_gateway), len(page2.nat_gateways.nat_gateway)]
    g = gateway(vpc, region, pre)
    out["prepaid"] = [g.spec, g.instance_charge_type, g.status, bool(g.expired_time), g.auto_pay]
    out["postpaid"] = [gateway(vpc, region, post).instance_charge_type, gateway(vpc, region, post).expired_time]

    # Documented errors reach the SDK as its exception, with the code.
    out["same_spec"] = code(lambda: modify(vpc, region, post, "Small"))
    out["unknown_spec"] = code(lambda: modify(vpc, region, post, "Huge"))
    out["unknown_gateway"] = code(lambda: modify(vpc, region, "ngw-missing", "Middle"))
    out["postpaid_downgrade"] = code(lambda: modify(vpc, region, large, "Small"))
    out["bad_secret"] = code(lambda: VpcClient(config(algorithm, secret="wrong")).describe_nat_gateways(
        vpc_models.DescribeNatGatewaysRequest(region_id=region)))
    out["unknown_key"] = code(lambda: VpcClient(config(algorithm, key="LTAInobody")).describe_nat_gateways(
        vpc_models.DescribeNatGatewaysRequest(region_id=region)))

    # Pay-by-specification: resized in place, Modifying then Available.
    modify(vpc, region, post, "Middle")
    out["postpaid_status_after_modify"] = gateway(vpc, region, post).status
    out["postpaid_busy"] = code(lambda: modify(vpc, region, post, "Large"))
    out["postpaid_resized"] = wait_available(vpc, region, post)

    # Subscription: an upgrade is an order; unpaid, it waits; a ClientToken retry is the same
    # answer and no second order; paid, the gateway changes.
    token = "natgw-%s-%d" % (style, time.time_ns())
    first = modify(vpc, region, pre, "Middle", auto_pay=False, token=token)
    again = modify(vpc, region, pre, "Middle", auto_pay=False, token=token)
    out["client_token_same_answer"] = first.request_id == again.request_id
    out["client_token_other_params"] = code(lambda: modify(vpc, region, pre, "Large", auto_pay=False, token=token))
    unpaid = orders_of(bss, pre, "Unpaid")
    out["unpaid_orders"] = len(unpaid)
    d = detail(bss, unpaid[0])
    out["order_detail"] = [d.order_type, d.payment_status, d.original_config, d.config, d.region]
    time.sleep(float(os.environ.get("CHANGE_SECONDS", "1")) + 0.5)
    g = gateway(vpc, region, pre)
    out["unpaid_waits"] = [g.spec, g.status]
    out["second_upgrade_while_unpaid"] = code(lambda: modify(vpc, region, pre, "Large"))
    paid = bss.pay_order(bss_models.PayOrderRequest(order_id=int(unpaid[0]))).body
    out["pay"] = [str(paid.order_id) == unpaid[0], detail(bss, unpaid[0]).payment_status]
    out["pay_again"] = code(lambda: bss.pay_order(bss_models.PayOrderRequest(order_id=int(unpaid[0]))))
    out["prepaid_upgraded"] = wait_available(vpc, region, pre)
    out["downgrade"] = code(lambda: modify(vpc, region, pre, "Small"))

    # AutoPay: the order is paid at once and completes.
    modify(vpc, region, pre, "Large", auto_pay=True)
    out["autopay_upgraded"] = wait_available(vpc, region, pre)
    out["orders_of_prepaid"] = sorted(detail(bss, o).payment_status for o in orders_of(bss, pre))

    # An unpaid order cancelled changes nothing.
    modify(vpc, region, pre, "XLarge.1")
    pending = orders_of(bss, pre, "Unpaid")
    cancelled = bss.cancel_order(bss_models.CancelOrderRequest(order_id=pending[0])).body
    out["cancel"] = [cancelled.success, detail(bss, pending[0]).payment_status, gateway(vpc, region, pre).spec]
    out["unknown_order"] = code(lambda: bss.get_order_detail(bss_models.GetOrderDetailRequest(order_id="1")))

    # Renewal: read and set.
    def renewal():
        body = bss.query_available_instances(bss_models.QueryAvailableInstancesRequest(
            product_code="nat_gw", instance_ids=pre, region=region)).body
        i = body.data.instance_list[0]
        return [body.data.total_count, i.instance_id, i.subscription_type, i.renew_status, bool(i.end_time)]
    out["renewal_before"] = renewal()
    set_ = bss.set_renewal(bss_models.SetRenewalRequest(
        instance_ids=pre, product_code="nat_gw", subscription_type="Subscription",
        renewal_status="AutoRenewal", renewal_period=1, renewal_period_unit="M")).body
    out["set_renewal"] = set_.success
    out["renewal_after"] = renewal()
    out["set_renewal_bad_status"] = code(lambda: bss.set_renewal(bss_models.SetRenewalRequest(
        instance_ids=pre, product_code="nat_gw", renewal_status="Sometimes")))

    # Claims by tags.
    tag = vpc_models.TagResourcesRequestTag(key="natgw.io/claim", value="team-a/%s" % style)
    vpc.tag_resources(vpc_models.TagResourcesRequest(
        region_id=region, resource_type="NATGATEWAY", resource_id=[post, pre], tag=[tag]))
    by_id = vpc.list_tag_resources(vpc_models.ListTagResourcesRequest(
        region_id=region, resource_type="NATGATEWAY", resource_id=[pre])).body
    out["tags_of_pre"] = sorted("%s=%s" % (t.tag_key, t.tag_value) for t in by_id.tag_resources.tag_resource)
    by_tag = vpc.list_tag_resources(vpc_models.ListTagResourcesRequest(
        region_id=region, resource_type="NATGATEWAY",
        tag=[vpc_models.ListTagResourcesRequestTag(key="natgw.io/claim", value="team-a/%s" % style)])).body
    out["claimed"] = sorted({t.resource_id for t in by_tag.tag_resources.tag_resource})
    claimed = vpc.describe_nat_gateways(vpc_models.DescribeNatGatewaysRequest(
        region_id=region, tag=[vpc_models.DescribeNatGatewaysRequestTag(key="natgw.io/claim")])).body
    out["claimed_described"] = sorted(g.nat_gateway_id for g in claimed.nat_gateways.nat_gateway)
    out["tags_in_describe"] = sorted(t.tag_key for t in gateway(vpc, region, pre).tags.tag)
    vpc.un_tag_resources(vpc_models.UnTagResourcesRequest(
        region_id=region, resource_type="NATGATEWAY", resource_id=[post], tag_key=["natgw.io/claim"]))
    out["after_untag"] = sorted(g.nat_gateway_id for g in vpc.describe_nat_gateways(
        vpc_models.DescribeNatGatewaysRequest(
            region_id=region, tag=[vpc_models.DescribeNatGatewaysRequestTag(key="natgw.io/claim")])
    ).body.nat_gateways.nat_gateway)
    out["tag_unknown_resource"] = code(lambda: vpc.tag_resources(vpc_models.TagResourcesRequest(
        region_id=region, resource_type="NATGATEWAY", resource_id=["ngw-missing"], tag=[tag])))

    # A temporary key is accepted with its token only.
    def with_token(token):
        client = VpcClient(config(algorithm, os.environ["TOKEN_KEY_ID"], os.environ["TOKEN_KEY_SECRET"], token))
        return code(lambda: client.describe_nat_gateways(vpc_models.DescribeNatGatewaysRequest(region_id=region)))
    out["token_key"] = [with_token(os.environ["SECURITY_TOKEN"]), with_token(None), with_token("wrong")]
    return out


def main():
    if sys.argv[1:] != ["scenario"]:
        sys.exit("usage: alibaba_sdk.py scenario")
    results = {style: scenario(style) for style in STYLES}
    with urllib.request.urlopen(os.environ["SIM_CONTROL"] + "/_sim/requests") as r:
        results["apis"] = sorted({req["api"] for req in json.load(r)})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
