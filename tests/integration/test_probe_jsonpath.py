#!/usr/bin/env python3
"""JSONPath (RFC 9535) in real journeys: bin/probe against scripts/example-shop.

A cart is filled through the shop's API and checked with filters, slices, descendants,
unions and functions, as probe/README.md's JSONPath section shows them; nodelist
captures come back as arrays; a query the RFC refuses stops the load with its offset;
a query past the work limit fails its step with a message, it does not stall the run.
Expected values come from the shop's price list (scripts/example-shop: A-1 12.5,
C-3 99.0) and the RFC, never from probe's code.
"""

import os
import secrets
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, load_json, run_probe, tempdir, write_journey  # noqa: E402


def journey(name, steps, variables):
    return {"name": name, "variables": variables, "steps": steps}


def steps_of(report):
    try:
        return report["journeys"][0]["steps"]
    except (KeyError, IndexError, TypeError):
        return []


def run_report(args, env):
    d = tempdir("vigil-jp-")
    rp = os.path.join(d, "report.json")
    r = run_probe(list(args) + ["--report", "json:" + rp], env=env, timeout=60)
    return r, load_json(rp)


def login_step():
    return {"name": "login",
            "request": {"method": "POST", "url": "{{base}}/api/login",
                        "json": {"user": "jp@example.com", "password": "{{secret.SHOP_PASSWORD}}"}},
            "capture": {"token": {"json": "$.token"}}}


def add(sku, qty):
    return {"name": "add " + sku,
            "request": {"method": "POST", "url": "{{base}}/api/cart",
                        "headers": {"Authorization": "Bearer {{token}}"},
                        "json": {"sku": sku, "qty": qty}},
            "expect": {"status": [200, 201]}}


def test_cart(shop):
    env = {"SHOP_PASSWORD": shop.password}
    d = tempdir()
    p = write_journey(d, "cart.json", journey("cart", [
        login_step(), add("A-1", 2), add("C-3", 1),
        {"name": "view cart",
         "request": {"url": "{{base}}/api/cart", "headers": {"Authorization": "Bearer {{token}}"}},
         "expect": {"json": {
             "$.items[?@.sku == 'A-1'].qty": [2],
             "$.items[?@.price > 50].sku": ["C-3"],
             "$.items[?@.price > 50 && @.qty == 1]": {"count": 1},
             "$.items[?match(@.sku, '[A-Z]-[0-9]')]": {"count_eq": 2},
             "$.items[?search(@.sku, '3')].sku": {"contains": "C-3"},
             "$.items[?length(@.sku) == 3]": {"count": 2},
             "$.items[-1:].sku": ["C-3"],
             "$.items[::-1].sku": ["C-3", "A-1"],
             "$..sku": ["A-1", "C-3"],
             "$['cart_id','count']": {"count": 2},
             "$.items[0,1].price": [12.5, 99.0],
             "$.items[?@.sku == 'Z-9']": {"exists": False},
             "$.items[?@.sku == 'A-1'].count()": 1,
             "$ .items[0] .sku": "A-1",
             "$.items[0]['sku']": "A-1"}},
         "capture": {"skus": {"json": "$.items[*].sku"},
                     "expensive": {"json": "$.items[?@.price > 50].sku"},
                     "a1_qty": {"json": "$.items[?@.sku == 'A-1'].qty"},
                     "first": {"json": "$.items[0].sku"}}},
        {"name": "cart has no Z-9",
         "request": {"url": "{{base}}/api/cart", "headers": {"Authorization": "Bearer {{token}}"}},
         "expect": {"json": {"$.items[?@.sku == 'Z-9'].qty": {"exists": True}}}},
    ], {"base": shop.base}))
    r, rep = run_report(["run", p], env)
    steps = steps_of(rep)
    view = next((s for s in steps if s.get("name") == "view cart"), {})
    check("every filter, slice, union and descendant check on the cart holds",
          view.get("result") == "passed", view.get("failures"))
    caps = view.get("captures") or {}
    check("a wildcard capture is the array of the nodes", caps.get("skus") == ["A-1", "C-3"], caps)
    check("a filter capture is an array (even of one node)", caps.get("expensive") == ["C-3"], caps)
    check("a filter capture of a number keeps its type", caps.get("a1_qty") == [2], caps)
    check("a singular capture is the node itself", caps.get("first") == "A-1", caps)
    last = next((s for s in steps if s.get("name") == "cart has no Z-9"), {})
    f = (last.get("failures") or [{}])[0]
    check("a filter that selects nothing fails \"exists\" and names the query",
          r.code == 1 and last.get("result") == "failed"
          and f.get("check") == "json $.items[?@.sku == 'Z-9'].qty" and f.get("actual") == "nothing",
          (r.brief(), last.get("failures")))


def test_refused_at_load(shop):
    d = tempdir()
    before = shop.stats()
    p = write_journey(d, "bad.json", journey("bad", [
        {"request": {"url": "{{base}}/api/cart"},
         "expect": {"json": {"$.items[?@.price > 10": {"exists": True}}}}], {"base": shop.base}))
    r = run_probe(["validate", p])
    check("probe validate refuses an unterminated filter with its offset (exit 2)",
          r.code == 2 and "JSONPath" in r.output and "at offset 21" in r.output, r.brief())
    p = write_journey(d, "bad2.json", journey("bad2", [
        {"request": {"url": "{{base}}/api/cart"},
         "capture": {"x": {"json": "$.items[?length(@.*) > 0]"}}}], {"base": shop.base}))
    r = run_probe(["run", p])
    check("a function argument of the wrong type is refused at load (exit 2, nothing sent)",
          r.code == 2 and "must be a value" in r.output and shop.stats() == before,
          (r.brief(), before, shop.stats()))
    p = write_journey(d, "bad3.json", journey("bad3", [
        {"request": {"url": "{{base}}/api/cart"},
         "expect": {"json": {"$[\"\\uD800\"]": {"exists": True}}}}], {"base": shop.base}))
    r = run_probe(["validate", p])
    check("a lone surrogate escape is refused at load (exit 2)",
          r.code == 2 and "surrogate" in r.output, r.brief())


def test_work_limit(shop):
    # Each of 3000 elements runs $..* over the whole body: about 3000 x 12000 steps,
    # past JSONPATH_MAX_WORK (2,000,000). The step fails with the limit's name; the
    # run goes on to the next journey step rather than stalling.
    d = tempdir()
    p = write_journey(d, "work.json", journey("work", [
        {"name": "quadratic",
         "request": {"method": "POST", "url": "{{base}}/echo", "json": {"a": [0] * 3000}},
         "expect": {"json": {"$.json.a[?count($..*) > 0]": {"count": 3000}}}},
    ], {"base": shop.base}))
    start = time.monotonic()
    r, rep = run_report(["run", p], {})
    elapsed = time.monotonic() - start
    s = (steps_of(rep) or [{}])[0]
    f = (s.get("failures") or [{}])[0]
    check("a query past the work limit fails its step with the limit named",
          r.code == 1 and "JSONPATH_MAX_WORK" in (f.get("message") or ""), (r.brief(), s.get("failures")))
    harness.diag("work-limit run took %.2f s" % elapsed)


def main():
    try:
        shop = harness.Shop(password="pw-" + secrets.token_hex(8))
    except Exception as exc:
        check("example-shop starts on an ephemeral port", False, exc)
        return harness.finish() or 1
    harness.run_group(test_cart, shop)
    harness.run_group(test_refused_at_load, shop)
    harness.run_group(test_work_limit, shop)
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
