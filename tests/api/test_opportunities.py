"""Opportunities, the pipeline and the funnel over HTTP: the story, bad input, and data scope."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
from typing import Any

import pytest

from tests.api.conftest import Api

PASSWORD = "pipeline-password-1"
DEFAULT = [
    {"key": "lead", "name": "线索", "probability": 10},
    {"key": "qualified", "name": "确认需求", "probability": 30},
    {"key": "proposal", "name": "方案报价", "probability": 60},
    {"key": "negotiation", "name": "谈判", "probability": 80},
]


def _seller(api: Api, role: str = "salesperson") -> tuple[str, Api]:
    roles = {r["name"]: r["id"] for r in api.get("/roles").json()["items"]}
    name = f"p-{uuid.uuid4().hex[:8]}"
    created = api.post("/users", json={"username": name, "password": PASSWORD, "display_name": name,
                                       "role_ids": [roles[role]]})  # fmt: skip
    assert created.status_code == 201, created.text
    login = api.client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return created.json()["id"], Api(api.client, login.json()["access_token"])


def _open(who: Api, customer_id: str, **fields: Any) -> dict[str, Any]:
    body = {"customer_id": customer_id, "title": who.unique("年度面料采购"), "amount": "100000.00",
            "expected_close_date": "2027-03-31", **fields}  # fmt: skip
    response = who.post("/opportunities", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


@pytest.fixture(scope="module")
def seller(api: Api) -> tuple[str, Api, str]:
    """A salesperson, logged in, with a customer of their own."""
    seller_id, as_seller = _seller(api)
    return seller_id, as_seller, as_seller.create_customer()["id"]


# The story ---------------------------------------------------------------------------------------


def test_an_opportunity_moves_through_the_pipeline_and_its_history_shows_every_stay(api: Api, seller) -> None:  # type: ignore[no-untyped-def]
    seller_id, me, customer_id = seller
    rival = me.create_customer(kind="competitor")["id"]
    opened = me.post("/opportunities", json={
        "customer_id": customer_id, "title": "慈溪工厂 2027 年度面料采购", "amount": "120000.00",
        "expected_close_date": "2027-03-31", "competitor_ids": [rival], "source": "展会"})  # fmt: skip
    assert opened.status_code == 201, opened.text
    oid = opened.json()["id"]
    assert opened.headers["Location"] == f"/api/v1/opportunities/{oid}"
    path = f"/opportunities/{oid}"
    assert me.post(f"{path}/stage", json={"stage": "proposal"}).json()["version"] == 2
    assert me.patch(path, json={"amount": "150000.50", "expected_close_date": "2027-04-30"}).status_code == 200
    lost = me.post(f"{path}/lose", json={"reason": "价格过高", "competitor_id": rival, "note": "对方低 8%"})
    assert lost.status_code == 200, lost.text
    assert me.post(f"{path}/reopen").status_code == 200
    won = me.post(f"{path}/win", json={"amount": "148000.00"})
    assert won.status_code == 200, won.text
    detail = me.get(path, params={"min_position": won.json()["position"]})
    assert detail.status_code == 200, detail.text
    assert detail.headers["ETag"] == f'"{won.json()["version"]}"'
    body = detail.json()
    assert (body["status"], body["stage"], body["amount"]) == ("won", "won", "148000.00")
    assert body["owner_id"] == seller_id and body["customer_id"] == customer_id
    assert body["customer_name"].startswith("宁波测试贸易有限公司")
    assert body["competitor_ids"] == [rival] and body["source"] == "展会"
    assert body["expected_close_date"] == "2027-04-30"
    assert [(s["stage"], s["amount"]) for s in body["stage_history"]] == [
        ("lead", "120000.00"), ("proposal", "120000.00"), ("lost", "150000.50"), ("proposal", "150000.50"),
        ("won", "148000.00"),
    ]
    assert [s["left_at"] is None for s in body["stage_history"]] == [False] * 4 + [True]


def test_the_list_filters_by_stage_status_customer_close_date_and_title(api: Api, seller) -> None:  # type: ignore[no-untyped-def]
    _, me, _ = seller
    customer = me.create_customer()["id"]
    token = uuid.uuid4().hex[:8]
    first = _open(me, customer, title=f"注塑机 {token} A", stage="qualified", expected_close_date="2027-01-15")
    second = _open(me, customer, title=f"注塑机 {token} B", expected_close_date="2027-02-15")
    third = _open(me, customer, title=f"注塑机 {token} C", expected_close_date="2027-03-15")
    won = me.post(f"/opportunities/{third['id']}/win")
    wait = {"min_position": won.json()["position"]}

    def ids(**params: Any) -> list[str]:
        response = me.get("/opportunities", params={**wait, **params})
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()["items"]]

    assert ids(customer_id=customer) == [third["id"], second["id"], first["id"]]
    assert ids(customer_id=customer, stage="qualified") == [first["id"]]
    assert ids(customer_id=customer, status="won") == [third["id"]]
    assert ids(customer_id=customer, status="open") == [second["id"], first["id"]]
    assert ids(customer_id=customer, close_from="2027-02-01", close_to="2027-02-28") == [second["id"]]
    assert ids(q=f"注塑机 {token} b".upper())[0] == second["id"]  # the whole title: the exact tier, first
    assert ids(q=token) == [third["id"], second["id"], first["id"]]  # contained in each, newest first
    page = me.get("/opportunities", params={**wait, "customer_id": customer, "limit": 2}).json()
    rest = me.get("/opportunities", params={**wait, "customer_id": customer, "limit": 2, "cursor": page["next_cursor"]}).json()
    assert [o["id"] for o in page["items"] + rest["items"]] == [third["id"], second["id"], first["id"]]
    assert rest["next_cursor"] is None


# Bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "-1.00"}, "amount"),
        ({"amount": "1.005"}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"title": ""}, "title"),
        ({"expected_close_date": "2027-02-30"}, "expected_close_date"),
        ({"stage": "signing"}, "stage"),
        ({"stage": "won"}, "stage"),
        ({"currency": "rmb"}, "currency"),
        ({"source": "从天而降"}, "source"),
        ({"customer_id": "00000000-0000-4000-8000-000000000000"}, "customer_id"),
        ({"owner_id": "00000000-0000-4000-8000-000000000000"}, "owner_id"),
        ({"probability": 50}, "probability"),
    ],
)
def test_opening_with_bad_input_is_a_422_on_the_field(api: Api, change: dict[str, Any], field: str) -> None:
    customer = api.create_customer()["id"]
    body = {"customer_id": customer, "title": "x", "amount": "1.00", "expected_close_date": "2027-01-01", **change}
    _problem(api.post("/opportunities", json=body), 422, field)


def test_competitors_must_be_competitor_customers(api: Api) -> None:
    customer = api.create_customer()["id"]
    body = {"customer_id": customer, "title": "x", "amount": "1.00", "expected_close_date": "2027-01-01"}
    problem = _problem(api.post("/opportunities", json={**body, "competitor_ids": [customer]}), 422, "competitor_ids[0]")
    assert "not a competitor" in problem["detail"]
    oid = api.post("/opportunities", json=body).json()["id"]
    _problem(api.post(f"/opportunities/{oid}/lose", json={"reason": "价格过高", "competitor_id": customer}), 422, "competitor_id")


def test_commands_refuse_what_the_rules_forbid(api: Api) -> None:
    oid = _open(api, api.create_customer()["id"])["id"]
    path = f"/opportunities/{oid}"
    _problem(api.post(f"{path}/lose", json={"reason": "看心情"}), 422, "reason")
    _problem(api.post(f"{path}/stage", json={"stage": "nowhere"}), 422, "stage")
    _problem(api.post(f"{path}/stage", json={}), 422, "stage")
    _problem(api.patch(path, json={"amount": None}), 422, "amount")
    _problem(api.patch(path, json={"stage": "lead"}), 422, "stage")
    _problem(api.post(f"{path}/reopen"), 409)
    _problem(api.post(f"{path}/lose", json={}), 422, "reason")
    _problem(api.post(f"{path}/win", json={"amount": "-3.00"}), 422, "amount")
    _problem(api.post(f"{path}/reassign", json={"owner_id": str(uuid.uuid4())}), 422, "owner_id")
    _problem(api.post(f"{path}/stage", content=b"stage=lead", headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
    _problem(api.post(f"{path}/stage", json={"stage": "proposal"}, headers={"If-Match": '"7"'}), 412)
    assert api.post(f"{path}/win").status_code == 200
    conflict = _problem(api.post(f"{path}/stage", json={"stage": "proposal"}), 409)
    _problem(api.post(f"{path}/reopen", json={"stage": "nowhere"}), 422, "stage")
    assert "reopen" in conflict["detail"]
    _problem(api.post(f"{path}/win"), 409)
    _problem(api.patch(path, json={"amount": "5.00"}), 409)
    unknown = "/opportunities/00000000-0000-4000-8000-000000000000"
    _problem(api.get(unknown), 404)
    _problem(api.post(f"{unknown}/stage", json={"stage": "lead"}), 404)
    _problem(api.post(f"{unknown}/win"), 404)
    _problem(api.get("/opportunities", params={"cursor": "nonsense"}), 422, "cursor")
    _problem(api.get("/opportunities", params={"status": "pending"}), 422)
    _problem(api.get("/opportunities", params={"close_from": "2027-02-01", "close_to": "2027-01-01"}), 422, "close_from")


# Data scope --------------------------------------------------------------------------------------


def test_a_salesperson_sees_only_their_own_opportunities_in_list_detail_and_funnel(api: Api, seller) -> None:  # type: ignore[no-untyped-def]
    seller_id, me, my_customer = seller
    other_id, other = _seller(api)
    theirs = _open(other, other.create_customer()["id"], amount="777.00")
    mine = _open(me, my_customer, amount="333.00")
    wait = {"min_position": max(theirs["position"], mine["position"])}
    listed = [o["id"] for o in me.get("/opportunities", params={**wait, "limit": 500}).json()["items"]]
    assert mine["id"] in listed and theirs["id"] not in listed
    assert me.get("/opportunities", params={**wait, "owner_id": other_id}).json()["items"] == []
    _problem(me.get(f"/opportunities/{theirs['id']}", params=wait), 404)
    _problem(me.post(f"/opportunities/{theirs['id']}/win"), 404)
    _problem(me.patch(f"/opportunities/{theirs['id']}", json={"amount": "1.00"}), 404)
    # Only the caller's own: the other's opportunity is not in the salesperson's funnel.
    funnel = me.get("/reports/funnel", params=wait).json()
    everyone = api.get("/reports/funnel", params=wait).json()
    lead = {s["stage"]: s for s in funnel["stages"]}["lead"]
    assert lead["count"] == len([o for o in me.get("/opportunities", params={**wait, "limit": 500, "stage": "lead"}).json()["items"]])
    assert {s["stage"]: s for s in everyone["stages"]}["lead"]["count"] > lead["count"]
    other_funnel = other.get("/reports/funnel", params=wait).json()
    other_lead = {s["stage"]: s for s in other_funnel["stages"]}["lead"]
    assert (other_lead["count"], other_lead["amount"], other_lead["weighted_amount"]) == (1, "777.00", "77.70")


def test_an_opportunity_needs_a_customer_within_the_callers_scope_and_owners_within_it(api: Api, seller) -> None:  # type: ignore[no-untyped-def]
    _, me, _ = seller
    other_id, other = _seller(api)
    foreign = other.create_customer()["id"]
    problem = _problem(me.post("/opportunities", json={
        "customer_id": foreign, "title": "x", "amount": "1.00", "expected_close_date": "2027-01-01"}), 422, "customer_id")
    assert problem["errors"][0]["message"] == f"no customer with id {foreign}"
    mine = _open(me, me.create_customer()["id"])
    _problem(me.post(f"/opportunities/{mine['id']}/reassign", json={"owner_id": other_id}), 403)
    moved = api.post(f"/opportunities/{mine['id']}/reassign", json={"owner_id": other_id, "reason": "区域调整"})
    assert moved.status_code == 200, moved.text
    _problem(me.get(f"/opportunities/{mine['id']}", params={"min_position": moved.json()["position"]}), 404)
    assert other.get(f"/opportunities/{mine['id']}", params={"min_position": moved.json()["position"]}).status_code == 200


def test_without_the_permission_opportunities_are_forbidden(api: Api) -> None:
    _, warehouse = _seller(api, "warehouse")
    _problem(warehouse.get("/opportunities"), 403)
    _problem(warehouse.get("/reports/funnel"), 403)
    _problem(warehouse.post("/opportunities", json={}), 403)


# Activities on opportunities ---------------------------------------------------------------------


def test_an_activity_may_name_an_existing_opportunity_and_an_unknown_one_is_a_422(api: Api) -> None:
    customer = api.create_customer()["id"]
    oid = _open(api, customer)["id"]
    activity = {"kind": "call", "occurred_at": "2026-11-20T10:00:00+08:00", "summary": "报价跟进"}
    accepted = api.post(f"/customers/{customer}/activities", json={**activity, "opportunity_id": oid})
    assert accepted.status_code == 201, accepted.text
    unknown = str(uuid.uuid4())
    problem = _problem(api.post(f"/customers/{customer}/activities", json={**activity, "opportunity_id": unknown}), 422)
    assert problem["errors"] == [{"field": "opportunity_id", "message": f"no opportunity with id {unknown}"}]


# The pipeline ------------------------------------------------------------------------------------


def test_the_default_pipeline_is_served_and_a_change_lists_opportunities_left_on_removed_stages(api: Api, seller) -> None:  # type: ignore[no-untyped-def]
    _, me, customer = seller
    got = api.get("/pipeline/stages")
    assert got.status_code == 200 and got.json() == DEFAULT
    version = got.headers["ETag"]
    stuck = _open(me, customer, stage="qualified")
    new = [DEFAULT[0], {"key": "visit", "name": "拜访", "probability": 20}, *DEFAULT[2:]]
    try:
        _problem(me.put("/pipeline/stages", json=new), 403)
        changed = api.put("/pipeline/stages", json=new, headers={"If-Match": version})
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert body["removed"] == ["qualified"]
        assert stuck["id"] in [o["id"] for o in body["stranded"]]
        assert api.get("/pipeline/stages").json() == new
        # Never moved silently: the opportunity is still on its removed stage.
        still = api.get(f"/opportunities/{stuck['id']}", params={"min_position": body["position"]}).json()
        assert still["stage"] == "qualified"
        report = api.get("/reports/stranded", params={"min_position": body["position"]}).json()
        assert report["stages"] == [s["key"] for s in new]
        assert stuck["id"] in [o["id"] for o in report["items"]]
        assert not {o["stage"] for o in report["items"]} & {s["key"] for s in new}
        assert stuck["id"] in [o["id"] for o in me.get("/reports/stranded").json()["items"]]
        _problem(api.post("/opportunities", json={"customer_id": customer, "title": "x", "amount": "1.00",
                                                  "expected_close_date": "2027-01-01", "stage": "qualified"}), 422, "stage")  # fmt: skip
        assert me.post(f"/opportunities/{stuck['id']}/stage", json={"stage": "visit"}).status_code == 200
        _problem(api.put("/pipeline/stages", json=new, headers={"If-Match": version}), 412)
    finally:
        restored = api.put("/pipeline/stages", json={"stages": DEFAULT})
        assert restored.status_code == 200, restored.text
    assert api.get("/pipeline/stages").json() == DEFAULT


@pytest.mark.parametrize(
    "stages",
    [
        [],
        [{"key": "lead", "name": "线索", "probability": 101}],
        [{"key": "Lead", "name": "线索", "probability": 10}],
        [{"key": "won", "name": "赢单", "probability": 100}],
        [{"key": "a", "name": "x", "probability": 1}, {"key": "a", "name": "y", "probability": 2}],
        [{"key": "a", "name": "x"}],
        {"stages": [{"key": "a", "name": "x", "probability": 1}], "extra": 1},
    ],
)
def test_bad_stages_are_a_422(api: Api, stages: Any) -> None:
    _problem(api.put("/pipeline/stages", json=stages), 422)


# The funnel --------------------------------------------------------------------------------------


def test_the_funnel_answers_now_and_as_of_before_a_stage_change(api: Api) -> None:
    seller_id, me = _seller(api)
    customer = me.create_customer()["id"]
    first = _open(me, customer, amount="1000.00")
    _open(me, customer, amount="500.00", stage="proposal")
    before = datetime.now(timezone.utc)
    moved = me.post(f"/opportunities/{first['id']}/stage", json={"stage": "negotiation"})
    wait = {"min_position": moved.json()["position"]}
    now = me.get("/reports/funnel", params=wait)
    assert now.status_code == 200, now.text
    stages = {s["stage"]: s for s in now.json()["stages"]}
    assert [s["stage"] for s in now.json()["stages"]] == ["lead", "qualified", "proposal", "negotiation"]
    assert (stages["lead"]["count"], stages["proposal"]["count"], stages["negotiation"]["count"]) == (0, 1, 1)
    assert stages["negotiation"]["weighted_amount"] == "800.00" and stages["proposal"]["weighted_amount"] == "300.00"
    assert stages["lead"]["conversion_rate"] == 1.0 and stages["negotiation"]["conversion_rate"] == 0.0
    then = me.get("/reports/funnel", params={**wait, "as_of": before.isoformat()}).json()
    earlier = {s["stage"]: s for s in then["stages"]}
    assert (earlier["lead"]["count"], earlier["lead"]["amount"], earlier["negotiation"]["count"]) == (1, "1000.00", 0)
    assert then["won"] == {"count": 0, "amount": "0.00"} and then["win_rate"] is None
    by_owner = api.get("/reports/funnel", params={**wait, "owner_id": seller_id}).json()
    assert by_owner["stages"] == now.json()["stages"]
    tomorrow = api.get("/reports/funnel", params={**wait, "owner_id": seller_id, "from": "2999-01-01"}).json()
    assert all(s["count"] == 0 for s in tomorrow["stages"])


def test_the_funnel_refuses_bad_parameters(api: Api) -> None:
    _problem(api.get("/reports/funnel", params={"as_of": "yesterday"}), 422)
    _problem(api.get("/reports/funnel", params={"as_of": "2026-01-01T00:00:00"}), 422, "as_of")
    _problem(api.get("/reports/funnel", params={"from": "2026-02-01", "to": "2026-01-01"}), 422, "from")
    _problem(api.get("/reports/funnel", params={"format": "pdf"}), 422)
    _problem(api.get("/reports/funnel", params={"department_id": "nope"}), 422)


def test_the_funnel_exports_as_csv_and_as_xlsx_that_reads_back(api: Api) -> None:
    from openpyxl import load_workbook

    seller_id, me = _seller(api)
    written = _open(me, me.create_customer()["id"], amount="1234.50", stage="proposal")
    params = {"min_position": written["position"], "owner_id": seller_id}
    csv_file = api.get("/reports/funnel", params={**params, "format": "csv"})
    assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith("text/csv")
    lines = csv_file.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "stage,name,probability,count,amount,weighted_amount,reached,conversion_rate,avg_days_in_stage"
    assert lines[3].startswith("proposal,方案报价,60,1,1234.50,740.70,1,0.0,")
    xlsx = api.get("/reports/funnel", params={**params, "format": "xlsx"})
    assert xlsx.status_code == 200, xlsx.text
    assert xlsx.headers["content-disposition"] == 'attachment; filename="funnel.xlsx"'
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][:6] == ["stage", "name", "probability", "count", "amount", "weighted_amount"]
    assert rows[3][:8] == ["proposal", "方案报价", 60, 1, 1234.5, 740.7, 1, 0]
    assert rows[5][:5] == ["won", "won", None, 0, 0]


# Forecast and lost reasons -----------------------------------------------------------------------


def test_the_forecast_weights_open_opportunities_by_stage_per_close_month(api: Api) -> None:
    from openpyxl import load_workbook

    seller_id, me = _seller(api)
    customer = me.create_customer()["id"]
    proposal = _open(me, customer, amount="1000.00", stage="proposal", expected_close_date="2027-03-05")  # 60%
    lead = _open(me, customer, amount="500.00", expected_close_date="2027-03-31")  # lead, 10%
    late = _open(me, customer, amount="200.05", stage="negotiation", expected_close_date="2027-05-01")  # 80%
    won = _open(me, customer, amount="9999.00", expected_close_date="2027-03-10")
    last = me.post(f"/opportunities/{won['id']}/win").json()["position"]
    forecast = me.get("/reports/forecast", params={"min_position": last})
    assert forecast.status_code == 200, forecast.text
    assert forecast.json() == {
        "months": [
            {"month": "2027-03", "count": 2, "amount": "1500.00", "weighted_amount": "650.00"},
            {"month": "2027-05", "count": 1, "amount": "200.05", "weighted_amount": "160.04"},
        ],
        "total": {"count": 3, "amount": "1700.05", "weighted_amount": "810.04"},
    }
    may = api.get("/reports/forecast", params={"min_position": last, "owner_id": seller_id, "close_from": "2027-04-01"}).json()
    assert [m["month"] for m in may["months"]] == ["2027-05"]
    _problem(me.get("/reports/forecast", params={"close_from": "2027-05-01", "close_to": "2027-04-01"}), 422, "close_from")
    xlsx = me.get("/reports/forecast", params={"min_position": last, "format": "xlsx"})
    rows = [[c.value for c in row] for row in load_workbook(io.BytesIO(xlsx.content)).active.iter_rows()]
    assert rows == [["month", "count", "amount", "weighted_amount"], ["2027-03", 2, 1500, 650], ["2027-05", 1, 200.05, 160.04],
                    ["total", 3, 1700.05, 810.04]]  # fmt: skip

    # Then things change; as_of the moment before, the forecast is what it was.
    before = datetime.now(timezone.utc)
    assert me.post(f"/opportunities/{proposal['id']}/stage", json={"stage": "negotiation"}).status_code == 200
    assert me.patch(f"/opportunities/{lead['id']}", json={"amount": "700.00"}).status_code == 200
    assert me.patch(f"/opportunities/{late['id']}", json={"expected_close_date": "2027-06-15"}).status_code == 200
    assert me.post(f"/opportunities/{lead['id']}/lose", json={"reason": "其他"}).status_code == 200
    last = _open(me, customer, amount="1.00", expected_close_date="2027-03-01")["position"]
    now = me.get("/reports/forecast", params={"min_position": last}).json()
    assert now["months"] == [
        {"month": "2027-03", "count": 2, "amount": "1001.00", "weighted_amount": "800.10"},
        {"month": "2027-06", "count": 1, "amount": "200.05", "weighted_amount": "160.04"},
    ]
    then_ = me.get("/reports/forecast", params={"min_position": last, "as_of": before.isoformat()}).json()
    assert then_ == forecast.json()
    _problem(me.get("/reports/forecast", params={"as_of": "2026-01-01T00:00:00"}), 422, "as_of")


def test_lost_reasons_count_and_sum_the_lost_opportunities_most_frequent_first(api: Api) -> None:
    seller_id, me = _seller(api)
    customer = me.create_customer()["id"]
    for amount, reason in (("100.00", "价格过高"), ("50.00", "预算不足"), ("200.00", "价格过高"), ("70.00", "其他")):
        opportunity = _open(me, customer, amount=amount)
        last = me.post(f"/opportunities/{opportunity['id']}/lose", json={"reason": reason}).json()
    back = _open(me, customer, amount="999.00")
    me.post(f"/opportunities/{back['id']}/lose", json={"reason": "其他"})
    last = me.post(f"/opportunities/{back['id']}/reopen").json()  # reopened: no longer lost
    report = me.get("/reports/lost-reasons", params={"min_position": last["position"]})
    assert report.status_code == 200, report.text
    assert report.json() == {
        "reasons": [
            {"reason": "价格过高", "count": 2, "amount": "300.00", "share": 0.5},
            {"reason": "其他", "count": 1, "amount": "70.00", "share": 0.25},
            {"reason": "预算不足", "count": 1, "amount": "50.00", "share": 0.25},
        ],
        "total": {"count": 4, "amount": "420.00"},
    }
    none = api.get("/reports/lost-reasons", params={"owner_id": seller_id, "to": "2000-01-01"}).json()
    assert none == {"reasons": [], "total": {"count": 0, "amount": "0.00"}}
    csv_file = me.get("/reports/lost-reasons", params={"format": "csv"}).content.decode("utf-8-sig").splitlines()
    assert csv_file[:2] == ["reason,count,amount,share", "价格过高,2,300.00,0.5"] and csv_file[-1] == "total,4,420.00"
    _problem(me.get("/reports/lost-reasons", params={"from": "2027-05-01", "to": "2027-04-01"}), 422, "from")


def test_reports_by_department_count_the_people_of_the_department_and_below(api: Api) -> None:
    roles = {r["name"]: r["id"] for r in api.get("/roles").json()["items"]}
    parent = api.post("/departments", json={"name": api.unique("华东销售部")}).json()["id"]
    child = api.post("/departments", json={"name": api.unique("宁波组"), "parent_id": parent}).json()["id"]
    name = f"p-{uuid.uuid4().hex[:8]}"
    member = api.post("/users", json={"username": name, "password": PASSWORD, "display_name": name,
                                      "department_id": child, "role_ids": [roles["salesperson"]]}).json()["id"]  # fmt: skip
    customer = api.create_customer(owner_id=member)["id"]
    written = _open(api, customer, owner_id=member, amount="400.00", stage="qualified")
    funnel = api.get("/reports/funnel", params={"min_position": written["position"], "department_id": parent}).json()
    qualified = {s["stage"]: s for s in funnel["stages"]}["qualified"]
    assert (qualified["count"], qualified["amount"], qualified["weighted_amount"]) == (1, "400.00", "120.00")
    assert sum(s["count"] for s in funnel["stages"]) == 1
    _problem(api.get("/reports/funnel", params={"department_id": str(uuid.uuid4())}), 422, "department_id")


def test_the_competitor_report_counts_deals_won_and_lost_against_each_competitor(api: Api) -> None:
    _, me = _seller(api)
    customer = me.create_customer()["id"]
    huaxin = me.create_customer(kind="competitor", name=me.unique("华鑫纺织"))["id"]
    yongda = me.create_customer(kind="competitor", name=me.unique("永达面料"))["id"]
    both = [huaxin, yongda]
    won = _open(me, customer, amount="1000.00", competitor_ids=both)
    me.post(f"/opportunities/{won['id']}/win", json={"amount": "900.00"})
    lost = _open(me, customer, amount="300.00", competitor_ids=both)
    me.post(f"/opportunities/{lost['id']}/lose", json={"reason": "竞争对手胜出", "competitor_id": yongda})
    surprise = _open(me, customer, amount="50.00")  # lost to a competitor nobody had named
    me.post(f"/opportunities/{surprise['id']}/lose", json={"reason": "竞争对手胜出", "competitor_id": huaxin})
    last = _open(me, customer, amount="70.00", competitor_ids=[yongda])
    report = me.get("/reports/competitors", params={"min_position": last["position"]})
    assert report.status_code == 200, report.text
    lines = {i["competitor_id"]: i for i in report.json()["items"]}
    assert set(lines) == set(both)
    assert {k: lines[huaxin][k] for k in ("opportunities", "open", "won", "lost", "lost_to_them", "win_rate")} == {
        "opportunities": 3, "open": 0, "won": {"count": 1, "amount": "900.00"}, "lost": {"count": 2, "amount": "350.00"},
        "lost_to_them": {"count": 1, "amount": "50.00"}, "win_rate": 0.3333,
    }  # fmt: skip
    assert {k: lines[yongda][k] for k in ("opportunities", "open", "won", "lost", "lost_to_them", "win_rate")} == {
        "opportunities": 3, "open": 1, "won": {"count": 1, "amount": "900.00"}, "lost": {"count": 1, "amount": "300.00"},
        "lost_to_them": {"count": 1, "amount": "300.00"}, "win_rate": 0.5,
    }  # fmt: skip
    assert lines[huaxin]["name"].startswith("华鑫纺织")
    csv_file = me.get("/reports/competitors", params={"format": "csv"}).content.decode("utf-8-sig").splitlines()
    assert csv_file[0].startswith("competitor_id,name,opportunities,open,won_count") and len(csv_file) == 3


# The customer's history --------------------------------------------------------------------------


def test_the_customers_history_holds_its_opportunities_events_in_order(api: Api, seller: tuple[str, Api, str]) -> None:
    _, as_seller, _ = seller
    customer_id = as_seller.create_customer()["id"]
    other_customer = as_seller.create_customer()["id"]
    first = _open(as_seller, customer_id)
    elsewhere = _open(as_seller, other_customer)
    assert as_seller.post(f"/customers/{customer_id}/contacts", json={"name": "王芳"}).status_code == 201
    assert as_seller.post(f"/opportunities/{first['id']}/stage", json={"stage": "proposal"}).status_code == 200

    items = as_seller.get(f"/customers/{customer_id}/history").json()["items"]
    assert [(i["aggregate_type"], i["event_type"]) for i in items] == [
        ("Customer", "Customer.Registered"),
        ("Opportunity", "Opportunity.Opened"),
        ("Customer", "Customer.ContactAdded"),
        ("Opportunity", "Opportunity.StageChanged"),
    ]
    positions = [i["position"] for i in items]
    assert positions == sorted(positions)
    assert elsewhere["id"] not in {i["aggregate_id"] for i in items}
    lines = as_seller.get(f"/customers/{customer_id}/history", params={"format": "jsonl"}).text.splitlines()
    assert len(lines) == len(items)


# The customer's 360° view ------------------------------------------------------------------------


def test_the_overview_shows_contacts_activities_and_opportunities_within_scope(api: Api, seller: tuple[str, Api, str]) -> None:
    seller_id, as_seller, _ = seller
    customer_id = as_seller.create_customer()["id"]
    for name, primary in (("李雷", False), ("韩梅梅", True)):
        assert as_seller.post(f"/customers/{customer_id}/contacts", json={"name": name, "primary": primary}).status_code == 201
    for day in range(1, 8):
        logged = as_seller.post(f"/customers/{customer_id}/activities", json={
            "kind": "call", "occurred_at": f"2026-10-0{day}T09:00:00+08:00", "summary": f"第{day}次电话"})
        assert logged.status_code == 201, logged.text
    won = _open(as_seller, customer_id, amount="30000.00")
    assert as_seller.post(f"/opportunities/{won['id']}/win", json={"amount": "28000.50"}).status_code == 200
    _open(as_seller, customer_id, amount="12000.00")
    latest = _open(as_seller, customer_id, amount="8000.00")
    # someone else's opportunity on the same customer: outside a salesperson's own scope
    other_id, as_other = _seller(api)
    theirs = _open(api, customer_id, amount="99999.00", owner_id=other_id)

    overview = as_seller.get(f"/customers/{customer_id}/overview", params={"min_position": latest["position"]}).json()
    assert overview["customer"]["id"] == customer_id
    assert overview["contacts"]["count"] == 2
    assert [c["name"] for c in overview["contacts"]["latest"]] == ["韩梅梅", "李雷"]
    assert overview["activities"]["count"] == 7
    assert [a["summary"] for a in overview["activities"]["latest"]] == [f"第{d}次电话" for d in (7, 6, 5, 4, 3)]
    deals = overview["opportunities"]
    assert (deals["count"], deals["open"], deals["won"], deals["lost"]) == (3, 2, 1, 0)
    assert (deals["open_amount"], deals["won_amount"]) == ("20000.00", "28000.50")
    assert deals["latest"][0]["id"] == latest["id"]

    everything = api.get(f"/customers/{customer_id}/overview", params={"min_position": theirs["position"]}).json()["opportunities"]
    assert (everything["count"], everything["open_amount"]) == (4, "119999.00")
    assert as_other.get(f"/customers/{customer_id}/overview").status_code == 404


def test_the_overview_leaves_out_what_the_caller_may_not_read(api: Api, seller: tuple[str, Api, str]) -> None:
    _, as_seller, _ = seller
    customer_id = as_seller.create_customer()["id"]
    _, as_service = _seller(api, role="service")
    overview = as_service.get(f"/customers/{customer_id}/overview").json()
    assert "opportunities" not in overview
    assert overview["contacts"]["count"] == 0
    assert as_service.get(f"/customers/{uuid.uuid4()}/overview").status_code == 404


# Quotes and the detail's timeline -----------------------------------------------------------------


def test_quotes_are_issued_accepted_and_shown_with_the_activities_on_the_detail(seller: tuple[str, Api, str]) -> None:
    _, as_seller, customer_id = seller
    deal = _open(as_seller, customer_id, amount="50000.00")
    first = as_seller.post(f"/opportunities/{deal['id']}/quotes", json={
        "lines": [{"description": "涤纶面料", "quantity": "1000", "unit_price": "45.50", "discount_rate": "0.05"},
                  {"description": "送货", "quantity": "1", "unit_price": "800.00"}],
        "valid_until": "2099-12-31", "note": "含税"})  # fmt: skip
    assert first.status_code == 201, first.text
    assert first.json()["number"] == 1
    second = as_seller.post(f"/opportunities/{deal['id']}/quotes", json={
        "lines": [{"description": "涤纶面料", "quantity": "1000", "unit_price": "44.00"}], "valid_until": "2099-12-31"})
    assert second.json()["number"] == 2
    accepted = as_seller.post(f"/opportunities/{deal['id']}/quotes/1/accept")
    assert accepted.status_code == 200, accepted.text
    logged = as_seller.post(f"/customers/{customer_id}/activities", json={
        "kind": "meeting", "occurred_at": "2026-11-20T14:00:00+08:00", "summary": "报价沟通",
        "opportunity_id": deal["id"]})  # fmt: skip
    assert logged.status_code == 201, logged.text

    detail = as_seller.get(f"/opportunities/{deal['id']}", params={"min_position": logged.json()["position"]}).json()
    assert detail["amount"] == "44025.00"  # 1000 × 45.50 × 0.95 + 800
    assert [(q["number"], q["total"], q["accepted"]) for q in detail["quotes"]] == [(1, "44025.00", True), (2, "44000.00", False)]
    assert detail["quotes"][0]["lines"][0] == {"stock_item_id": None, "description": "涤纶面料", "quantity": "1000",
                                               "unit_price": "45.50", "discount_rate": "0.05", "total": "43225.00"}  # fmt: skip
    assert [a["summary"] for a in detail["activities"]] == ["报价沟通"]

    accepted_again = as_seller.post(f"/opportunities/{deal['id']}/quotes/2/accept")
    detail = as_seller.get(f"/opportunities/{deal['id']}", params={"min_position": accepted_again.json()["position"]}).json()
    assert [q["accepted"] for q in detail["quotes"]] == [False, True]
    assert detail["amount"] == "44000.00"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"lines": [], "valid_until": "2099-12-31"}, 422, "lines"),
        ({"lines": [{"quantity": "1", "unit_price": "1.00"}], "valid_until": "2099-12-31"}, 422, "lines[0]"),
        ({"lines": [{"description": "x", "quantity": "1", "unit_price": "1,5"}], "valid_until": "2099-12-31"}, 422, None),
        ({"lines": [{"description": "x", "quantity": "1", "unit_price": "1.00"}], "valid_until": "2001-01-01"}, 422, "valid_until"),
        ({"lines": [{"description": "x", "quantity": "1", "unit_price": "1.00", "stock_item_id": str(uuid.uuid4())}],
          "valid_until": "2099-12-31"}, 422, "lines[0].stock_item_id"),
    ],
)  # fmt: skip
def test_a_bad_quote_is_refused_and_changes_nothing(seller: tuple[str, Api, str], body: dict[str, Any], status: int, field: str | None) -> None:
    _, as_seller, customer_id = seller
    deal = _open(as_seller, customer_id)
    _problem(as_seller.post(f"/opportunities/{deal['id']}/quotes", json=body), status, field)
    assert as_seller.get(f"/opportunities/{deal['id']}", params={"min_position": deal["position"]}).json()["version"] == 1
    _problem(as_seller.post(f"/opportunities/{deal['id']}/quotes/1/accept"), 422, "number")
    _problem(as_seller.post(f"/opportunities/{deal['id']}/quotes/0/accept"), 422)


# Win rates and sales targets ---------------------------------------------------------------------


def _person(api: Api, role: str, department_id: str | None = None) -> tuple[str, Api]:
    roles = {r["name"]: r["id"] for r in api.get("/roles").json()["items"]}
    name = f"t-{uuid.uuid4().hex[:8]}"
    created = api.post("/users", json={"username": name, "password": PASSWORD, "display_name": f"销售{name[-4:]}",
                                       "role_ids": [roles[role]], "department_id": department_id})  # fmt: skip
    assert created.status_code == 201, created.text
    token = api.client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD}).json()["access_token"]
    return created.json()["id"], Api(api.client, token)


def test_targets_report_shows_target_won_amount_and_completion_per_month(api: Api) -> None:
    this_month = datetime.now(ZoneInfo("Asia/Shanghai"))
    year, month = this_month.year, this_month.month
    department = api.post("/departments", json={"name": api.unique("华南销售部")}).json()["id"]
    team = api.post("/departments", json={"name": api.unique("深圳组"), "parent_id": department}).json()["id"]
    seller_id, seller = _person(api, "salesperson", team)
    colleague_id, colleague = _person(api, "salesperson", department)
    manager_id, manager = _person(api, "sales_manager", team)
    customer = seller.create_customer()["id"]

    for amount, outcome in (("30000.00", "win"), ("45000.50", "win"), ("9999.00", "lose")):
        deal = _open(seller, customer, amount=amount)
        body = {"reason": "价格过高"} if outcome == "lose" else {}
        closed = seller.post(f"/opportunities/{deal['id']}/{outcome}", json=body)
        assert closed.status_code == 200, closed.text
    deal = _open(colleague, colleague.create_customer()["id"], amount="10000.00")
    last = colleague.post(f"/opportunities/{deal['id']}/win").json()

    # Who may set targets
    months = {str(month): "100000.00", str(month % 12 + 1): "50000.00"}
    _problem(seller.put(f"/sales-targets/{year}/users/{seller_id}", json={"months": months}), 403)
    _problem(manager.put(f"/sales-targets/{year}/users/{colleague_id}", json={"months": months}), 403)  # not in the team
    _problem(manager.put(f"/sales-targets/{year}/departments/{department}", json={"months": months}), 403)
    assert manager.put(f"/sales-targets/{year}/users/{seller_id}", json={"months": months}).status_code == 201
    again = manager.put(f"/sales-targets/{year}/users/{seller_id}", json={"months": {str(month): "100000.00"}})
    assert again.status_code == 200 and again.json()["version"] == 2  # nothing changed, nothing recorded
    set_department = api.put(f"/sales-targets/{year}/departments/{department}", json={"months": {str(month): "200000.00"}})
    assert set_department.status_code == 201, set_department.text
    _problem(api.put(f"/sales-targets/{year}/users/{seller_id}", json={"months": {"13": "1.00"}}), 422, "months")
    _problem(api.put(f"/sales-targets/{year}/users/{seller_id}", json={"months": {str(month): "-1.00"}}), 422)
    _problem(api.put(f"/sales-targets/1999/users/{seller_id}", json={"months": months}), 422)
    _problem(api.put(f"/sales-targets/{year}/departments/{uuid.uuid4()}", json={"months": months}), 422, "department_id")

    wait = {"min_position": max(last["position"], set_department.json()["position"])}
    report = api.get("/reports/targets", params={"year": year, "department_id": department, **wait}).json()
    by_subject = {(s["subject_type"], s["subject_id"]): s for s in report["subjects"]}
    mine = by_subject[("user", seller_id)]
    assert mine["months"][month - 1] == {"month": month, "target": "100000.00", "won_amount": "75000.50", "completion_rate": 0.75}
    following = mine["months"][month % 12]
    assert (following["target"], following["completion_rate"]) == ("50000.00", 0.0)
    assert mine["total"]["target"] == "150000.00"
    whole = by_subject[("department", department)]
    assert whole["months"][month - 1]["won_amount"] == "85000.50"  # the team below it counts too
    assert whole["months"][month - 1]["completion_rate"] == 0.425
    assert [s["subject_type"] for s in report["subjects"]][0] == "department"

    # The manager's scope is the team: the seller's row, not the whole department's
    seen = manager.get("/reports/targets", params={"year": year, **wait}).json()
    assert [(s["subject_type"], s["subject_id"]) for s in seen["subjects"]] == [("user", seller_id)]
    csv = api.get("/reports/targets", params={"year": year, "department_id": department, "format": "csv", **wait})
    assert csv.status_code == 200 and "75000.50" in csv.content.decode("utf-8-sig")

    in_team = api.get("/opportunities", params={"department_id": team, "limit": 100, **wait}).json()["items"]
    assert ({o["owner_id"] for o in in_team}, len(in_team)) == ({seller_id}, 3)
    in_department = api.get("/opportunities", params={"department_id": department, "limit": 100, **wait}).json()["items"]
    assert ({o["owner_id"] for o in in_department}, len(in_department)) == ({seller_id, colleague_id}, 4)
    _problem(api.get("/opportunities", params={"department_id": str(uuid.uuid4())}), 422, "department_id")

    rates = api.get("/reports/win-rates", params={"department_id": department, **wait}).json()["owners"]
    assert [(r["owner_id"], r["won"], r["won_amount"], r["lost"], r["win_rate"]) for r in rates] == [
        (colleague_id, 1, "10000.00", 0, 1.0), (seller_id, 2, "75000.50", 1, 0.6667)]
    assert rates[1]["owner_name"].startswith("销售")
    assert [r["owner_id"] for r in manager.get("/reports/win-rates", params=wait).json()["owners"]] == [seller_id]
    xlsx = api.get("/reports/win-rates", params={"department_id": department, "format": "xlsx", **wait})
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
