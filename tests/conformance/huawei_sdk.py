"""Drives Huawei Cloud's official Python SDKs (core, NAT, BSS, IAM) against the simulator, or
prints the SDK signer's Authorization header for fixed inputs.

Run by tests/offline/huawei_conformance.rs:
  huawei_sdk.py sign '<json case>'   -> prints the Authorization header the SDK computes
  huawei_sdk.py flow                 -> runs the calls against HW_ENDPOINT, prints a JSON report
  huawei_sdk.py renewal              -> a yearly/monthly gateway's subscription calls (BSS), the
                                        same report
Exit code 3 when the SDKs are not importable.
"""

import json
import os
import sys
import urllib.request

try:
    from huaweicloudsdkcore.auth.credentials import BasicCredentials, GlobalCredentials
    from huaweicloudsdkcore.exceptions import exceptions
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkcore.signer.algorithm import SigningAlgorithm
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer
    from huaweicloudsdknat.v2 import (ListNatGatewaysRequest, NatClient, PrepaidOptions, ShowNatGatewayRequest, UpdateNatGatewayOption,
                                      UpdateNatGatewayOptionPrepaidOptions, UpdateNatGatewayRequest,
                                      UpdateNatGatewayRequestBody, UpdateNatGatewayToPeriodRequest,
                                      UpdateNatGatewayToPeriodRequestBody)
    from huaweicloudsdkbss.v2 import (AutoRenewalResourcesReq, AutoRenewalResourcesRequest, BssClient,
                                      CancelAutoRenewalResourcesRequest, CancelCustomerOrderReq,
                                      CancelCustomerOrderRequest, ListCustomerOrdersRequest,
                                      ListPayPerUseCustomerResourcesRequest, PayCustomerOrderV3Req, PayOrdersRequest,
                                      PeriodToOnDemandReq, QueryResourcesReq, ShowCustomerOrderDetailsRequest,
                                      UpdatePeriodToOnDemandRequest)
    from huaweicloudsdkiam.v3 import IamClient, KeystoneListProjectsRequest
except ImportError as e:  # pragma: no cover - reported by the Rust test
    print(f"the Huawei Cloud SDKs are not importable: {e}; pip install -r tests/conformance/requirements.txt",
          file=sys.stderr)
    sys.exit(3)


def sign(case):
    """The SDK signer's Authorization for one fixed request (the date comes in the headers)."""
    request = SdkRequest(method=case["method"], schema="http", host=case["host"], resource_path=case["path"],
                         query_params=[tuple(q) for q in case["query"]], header_params=dict(case["headers"]),
                         body=case["body"])
    signed = Signer(BasicCredentials(case["ak"], case["sk"])).sign(request)
    return signed.header_params["Authorization"]


def env(name):
    return os.environ[name]


def control(path, body):
    req = urllib.request.Request(env("HW_ENDPOINT") + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).read()


def failure(call):
    """Runs a call that must fail; returns what the SDK made of the error answer."""
    try:
        call()
    except exceptions.ClientRequestException as e:
        return {"status": e.status_code, "code": e.error_code, "request_id": e.request_id}
    raise AssertionError("the call succeeded")


def unset(model, allowed=()):
    """The fields of an SDK response model the answer left unset, but those in `allowed`."""
    return sorted(k for k in model.openapi_types if getattr(model, k) is None and k not in allowed)


def flow():
    endpoint, ak, sk = env("HW_ENDPOINT"), env("HW_AK"), env("HW_SK")
    project, domain = env("HW_PROJECT"), env("HW_DOMAIN")
    nat = NatClient.new_builder().with_credentials(BasicCredentials(ak, sk, project)).with_endpoint(endpoint).build()
    bss = BssClient.new_builder().with_credentials(GlobalCredentials(ak, sk, domain)).with_endpoint(endpoint).build()
    iam = IamClient.new_builder().with_credentials(GlobalCredentials(ak, sk, domain)).with_endpoint(endpoint).build()
    report = {}

    shown = nat.show_nat_gateway(ShowNatGatewayRequest(nat_gateway_id="gw-ppu")).nat_gateway
    report["show"] = {"spec": shown.spec, "status": shown.status, "billing_info": shown.billing_info,
                      "created_at": str(shown.created_at),
                      # A pay-per-use gateway has no billing information.
                      "unset": unset(shown, ("billing_info",)), "session_unset": unset(shown.session_conf)}

    listed_gateways = nat.list_nat_gateways(ListNatGatewaysRequest(limit=2000)).nat_gateways
    report["list"] = {g.id: unset(g, ("billing_info",)) for g in listed_gateways}

    update = nat.update_nat_gateway(UpdateNatGatewayRequest(
        nat_gateway_id="gw-pre",
        body=UpdateNatGatewayRequestBody(nat_gateway=UpdateNatGatewayOption(
            spec="3", prepaid_options=UpdateNatGatewayOptionPrepaidOptions(is_auto_pay=True)))))
    report["update"] = {"order_id": update.order_id, "status": update.nat_gateway.status}

    period = nat.update_nat_gateway_to_period(UpdateNatGatewayToPeriodRequest(
        nat_gateway_id="gw-ppu",
        body=UpdateNatGatewayToPeriodRequestBody(prepaid_options=PrepaidOptions(
            period_type="month", period_num=1, is_auto_renew=False, is_auto_pay=False))))
    report["to_period"] = {"order_id": period.order_id}

    details = bss.show_customer_order_details(ShowCustomerOrderDetailsRequest(order_id=period.order_id))
    report["order"] = {"status": details.order_info.status, "order_type": details.order_info.order_type,
                       "total_count": details.total_count}
    item = details.order_line_items[0]
    report["line_item"] = {"service_type_code": item.service_type_code, "period_type": item.period_type,
                           "period_num": item.period_num, "order_id": item.order_id}

    # The operator's lookup of an open conversion order, with the filters it sends.
    listed = bss.list_customer_orders(ListCustomerOrdersRequest(
        service_type_code="hws.service.type.natgateway", order_type="11",
        create_time_begin=env("HW_BEGIN"), create_time_end=env("HW_END"), order_by="-createTime", limit=100,
        offset=0))
    report["listed"] = {"total_count": listed.total_count,
                        "orders": [{"order_id": o.order_id, "status": o.status, "order_type": o.order_type,
                                    "service_type_code": o.service_type_code, "create_time": o.create_time}
                                   for o in listed.order_infos]}
    pending = bss.list_customer_orders(ListCustomerOrdersRequest(order_id=period.order_id.lower(), status=6))
    report["listed_pending"] = [o.order_id for o in pending.order_infos]

    # The operator's check that an open order is its gateway's: by order id and resource id.
    def resources(order_id, resource_ids):
        answer = bss.list_pay_per_use_customer_resources(ListPayPerUseCustomerResourcesRequest(
            body=QueryResourcesReq(order_id=order_id, resource_ids=resource_ids, only_main_resource=1, limit=10)))
        return answer
    mine = resources(period.order_id, ["gw-ppu"])
    report["resources"] = {"total_count": mine.total_count, "ids": [r.resource_id for r in mine.data],
                           "regions": [r.region_code for r in mine.data],
                           # Linear sizes do not apply to NAT gateways; a main resource has no parent.
                           "unset": unset(mine.data[0], ("spec_size", "spec_size_measure_id", "parent_resource_id",
                                                         "effective_time", "expire_time"))}
    report["resources_other"] = resources(period.order_id, ["gw-pre"]).total_count
    report["resources_invalid"] = failure(lambda: bss.list_pay_per_use_customer_resources(
        ListPayPerUseCustomerResourcesRequest(body=QueryResourcesReq(only_main_resource=2))))

    # Every field of the SDK's models is filled: the unpaid order has no payment time yet.
    report["order_unset"] = unset(details.order_info, ("payment_time",))
    report["line_item_unset"] = unset(item, ("effective_time", "expire_time"))
    report["listed_unset"] = unset(listed.order_infos[0], ("payment_time", "agent_pay_info"))

    paid = bss.pay_orders(PayOrdersRequest(body=PayCustomerOrderV3Req(
        order_id=period.order_id, use_coupon="NO", use_discount="NO")))
    report["pay"] = {"status": paid.status_code}
    details = bss.show_customer_order_details(ShowCustomerOrderDetailsRequest(order_id=period.order_id))
    report["order_after_pay"] = {"status": details.order_info.status, "payment_time": details.order_info.payment_time,
                                 "unset": unset(details.order_info, ("pending_payment_end_time",)),
                                 "line_item_unset": unset(details.order_line_items[0])}
    report["pay_again"] = failure(lambda: bss.pay_orders(PayOrdersRequest(body=PayCustomerOrderV3Req(
        order_id=period.order_id, use_coupon="NO", use_discount="NO"))))
    report["unknown_order"] = failure(
        lambda: bss.show_customer_order_details(ShowCustomerOrderDetailsRequest(order_id="CSNOSUCHORDER")))

    # The spec the gateway already has: no order. Without auto-pay: an order that waits (6).
    same = nat.update_nat_gateway(UpdateNatGatewayRequest(
        nat_gateway_id="gw-ppu", body=UpdateNatGatewayRequestBody(nat_gateway=UpdateNatGatewayOption(spec="1"))))
    report["same_spec"] = {"order_id": same.order_id, "status": same.nat_gateway.status}
    manual = nat.update_nat_gateway(UpdateNatGatewayRequest(
        nat_gateway_id="gw-pre2",
        body=UpdateNatGatewayRequestBody(nat_gateway=UpdateNatGatewayOption(
            spec="2", prepaid_options=UpdateNatGatewayOptionPrepaidOptions(is_auto_pay=False)))))
    manual_details = bss.show_customer_order_details(ShowCustomerOrderDetailsRequest(order_id=manual.order_id))
    report["manual_resize"] = {"order_id": manual.order_id, "status": manual_details.order_info.status,
                               "order_type": manual_details.order_info.order_type}
    report["malformed_id"] = failure(lambda: nat.show_nat_gateway(ShowNatGatewayRequest(nat_gateway_id="gw ppu")))

    projects = iam.keystone_list_projects(KeystoneListProjectsRequest(name=env("HW_REGION"))).projects
    report["projects"] = [{"id": p.id, "name": p.name, "unset": unset(p)} for p in projects]

    wrong = NatClient.new_builder().with_credentials(BasicCredentials(ak, "not-the-secret", project)) \
        .with_endpoint(endpoint).build()
    report["auth"] = failure(lambda: wrong.show_nat_gateway(ShowNatGatewayRequest(nat_gateway_id="gw-ppu")))
    report["not_found"] = failure(lambda: nat.show_nat_gateway(ShowNatGatewayRequest(nat_gateway_id="gw-none")))
    report["invalid"] = failure(lambda: nat.update_nat_gateway_to_period(UpdateNatGatewayToPeriodRequest(
        nat_gateway_id="gw-ppu",
        body=UpdateNatGatewayToPeriodRequestBody(prepaid_options=PrepaidOptions(
            period_type="year", period_num=4, is_auto_renew=False, is_auto_pay=True)))))
    # Every signing algorithm the SDK offers, on a GET (NAT) and on a POST with a body (BSS).
    report["algorithms"] = {}
    for algorithm in SigningAlgorithm:
        config = HttpConfig.get_default_config()
        config.signing_algorithm = algorithm
        signed_nat = NatClient.new_builder().with_http_config(config) \
            .with_credentials(BasicCredentials(ak, sk, project)).with_endpoint(endpoint).build()
        signed_bss = BssClient.new_builder().with_http_config(config) \
            .with_credentials(GlobalCredentials(ak, sk, domain)).with_endpoint(endpoint).build()
        status = signed_nat.show_nat_gateway(ShowNatGatewayRequest(nat_gateway_id="gw-ppu")).nat_gateway.status
        listed = signed_bss.list_pay_per_use_customer_resources(ListPayPerUseCustomerResourcesRequest(
            body=QueryResourcesReq(order_id=period.order_id, only_main_resource=1))).total_count
        report["algorithms"][algorithm.name] = {"nat": status, "bss": listed}
    config = HttpConfig.get_default_config()
    config.signing_algorithm = SigningAlgorithm.SM2_SM3
    forged = NatClient.new_builder().with_http_config(config) \
        .with_credentials(BasicCredentials(ak, "not-the-secret", project)).with_endpoint(endpoint).build()
    report["auth_sm2"] = failure(lambda: forged.show_nat_gateway(ShowNatGatewayRequest(nat_gateway_id="gw-ppu")))

    control("/_sim/faults", {"action": "ShowNatGateway", "times": 1, "kind": "error", "code": "APIG.0308"})
    report["throttled"] = failure(lambda: nat.show_nat_gateway(ShowNatGatewayRequest(nat_gateway_id="gw-ppu")))
    return report


def clients():
    endpoint, ak, sk = env("HW_ENDPOINT"), env("HW_AK"), env("HW_SK")
    nat = NatClient.new_builder().with_credentials(BasicCredentials(ak, sk, env("HW_PROJECT"))) \
        .with_endpoint(endpoint).build()
    bss = BssClient.new_builder().with_credentials(GlobalCredentials(ak, sk, env("HW_DOMAIN"))) \
        .with_endpoint(endpoint).build()
    return nat, bss


def renewal():
    """Each BSS call about a yearly/monthly gateway's subscription that the operator makes, with
    the request shapes it sends (tests/offline/huawei_conformance.rs compares them), plus the
    refusals it must understand."""
    nat, bss = clients()
    report = {}

    def query(body):
        return bss.list_pay_per_use_customer_resources(ListPayPerUseCustomerResourcesRequest(body=body))

    def subscription(gateway):
        """The operator's read of one gateway's subscription."""
        listed = query(QueryResourcesReq(resource_ids=[gateway], only_main_resource=1, limit=50))
        entry = listed.data[0]
        return {"total_count": listed.total_count, "resource_id": entry.resource_id, "status": entry.status,
                "expire_policy": entry.expire_policy, "expire_time": entry.expire_time,
                "effective_time": entry.effective_time,
                # Linear sizes do not apply to NAT gateways; a main resource has no parent.
                "unset": unset(entry, ("spec_size", "spec_size_measure_id", "parent_resource_id"))}

    report["one"] = subscription("gw-pre")
    # The operator's account-wide page (more than 50 yearly/monthly gateways in one read).
    page = query(QueryResourcesReq(service_type_code="hws.service.type.natgateway", only_main_resource=1, offset=0,
                                   limit=100))
    report["page"] = {"total_count": page.total_count, "ids": sorted(r.resource_id for r in page.data)}
    second = query(QueryResourcesReq(service_type_code="hws.service.type.natgateway", only_main_resource=1,
                                     offset=100, limit=100))
    report["page_after_end"] = {"total_count": second.total_count, "listed": len(second.data)}

    def policy():
        return subscription("gw-pre")["expire_policy"]

    # As the operator sends them: auto-renew with an empty body ({}), cancelled without one.
    on = bss.auto_renewal_resources(AutoRenewalResourcesRequest(resource_id="gw-pre", body=AutoRenewalResourcesReq()))
    report["auto_renew"] = {"status": on.status_code, "policy": policy()}
    off = bss.cancel_auto_renewal_resources(CancelAutoRenewalResourcesRequest(resource_id="gw-pre"))
    report["cancel_auto_renew"] = {"status": off.status_code, "policy": policy()}
    # The SDK's default: no body at all.
    bare = bss.auto_renewal_resources(AutoRenewalResourcesRequest(resource_id="gw-pre"))
    report["auto_renew_bare"] = {"status": bare.status_code, "policy": policy()}
    bss.cancel_auto_renewal_resources(CancelAutoRenewalResourcesRequest(resource_id="gw-pre"))

    def to_on_demand(operation, ids):
        answer = bss.update_period_to_on_demand(UpdatePeriodToOnDemandRequest(
            body=PeriodToOnDemandReq(operation=operation, resource_ids=ids)))
        return {"status": answer.status_code,
                "errors": [{"code": d.error_code, "id": d.id} for d in answer.error_details or []]}

    report["set_up"] = to_on_demand("SET_UP", ["gw-pre"])
    report["set_up"]["policy"] = policy()
    report["cancel"] = to_on_demand("CANCEL", ["gw-pre"])
    report["cancel"]["policy"] = policy()
    report["set_up_pay_per_use"] = to_on_demand("SET_UP", ["gw-ppu"])
    report["auto_renew_pay_per_use"] = failure(
        lambda: bss.auto_renewal_resources(AutoRenewalResourcesRequest(resource_id="gw-ppu",
                                                                       body=AutoRenewalResourcesReq())))
    report["bad_operation"] = failure(lambda: bss.update_period_to_on_demand(UpdatePeriodToOnDemandRequest(
        body=PeriodToOnDemandReq(operation="NOW", resource_ids=["gw-pre"]))))

    def spec_change(gateway, auto_pay):
        return nat.update_nat_gateway(UpdateNatGatewayRequest(
            nat_gateway_id=gateway,
            body=UpdateNatGatewayRequestBody(nat_gateway=UpdateNatGatewayOption(
                spec="2", prepaid_options=UpdateNatGatewayOptionPrepaidOptions(is_auto_pay=auto_pay))))).order_id

    def cancel(order_id):
        return bss.cancel_customer_order(CancelCustomerOrderRequest(body=CancelCustomerOrderReq(order_id=order_id)))

    def order_status(order_id):
        return bss.show_customer_order_details(ShowCustomerOrderDetailsRequest(order_id=order_id)).order_info.status

    unpaid = spec_change("gw-pre2", False)
    report["cancel_pending"] = {"order_id": unpaid, "before": order_status(unpaid), "status": cancel(unpaid).status_code,
                                "after": order_status(unpaid)}
    paid = spec_change("gw-pre3", True)
    report["cancel_paid"] = failure(lambda: cancel(paid))
    report["cancel_paid"]["order_id"] = paid
    report["cancel_paid"]["after"] = order_status(paid)
    report["cancel_unknown"] = failure(lambda: cancel("CSNOSUCHORDER"))
    return report


def main():
    if sys.argv[1] == "sign":
        print(sign(json.loads(sys.argv[2])))
    elif sys.argv[1] == "flow":
        print(json.dumps(flow()))
    elif sys.argv[1] == "renewal":
        print(json.dumps(renewal()))
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")


if __name__ == "__main__":
    main()
