#!/usr/bin/env python3
"""Integration tests of probe's request shapes (issue 17, probe/README.md): multipart
bodies, GraphQL, data-driven runs (--data) and environment files (--env-file).

Servers are real: scripts/example-shop, and a small stdlib HTTP server started here that
parses multipart bodies with the standard library's email parser (not probe's code) and
answers GraphQL-shaped requests ({"data": ...} or {"errors": [...]}, as the GraphQL
spec's "Response" section has them). Reference values come from the files written here
and from Python's own csv and hashlib modules.
Prints TAP-style `ok - ...` / `not ok - ...` lines; exits 1 when any check failed.
"""

import csv
import email.parser
import email.policy
import hashlib
import io
import json
import os
import secrets
import sys
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, run_probe, tempdir, write_journey, load_json, write_file  # noqa: E402

PRODUCTS = {"A-1": {"id": "A-1", "name": "Anvil"}, "B-2": {"id": "B-2", "name": "Bell"}}


class Handler(BaseHTTPRequestHandler):
    """POST /upload echoes the multipart parts it parsed; POST /graphql answers a
    one-field schema: product(id) { id name }."""

    def log_message(self, *args):
        pass

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.path == "/upload":
            # The email package parses MIME multipart (RFC 2046), which RFC 7578's
            # multipart/form-data is: prefix the request's Content-Type as a header.
            raw = b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
            parts = []
            for p in msg.iter_parts():
                data = p.get_payload(decode=True) or b""
                parts.append({"name": p.get_param("name", header="content-disposition"),
                              "filename": p.get_filename(),
                              "content_type": p.get_content_type()
                              if p.get("Content-Type") else None,
                              "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                              "text": data.decode("utf-8", "replace") if len(data) < 200 else None})
            self.reply(200, {"multipart": msg.is_multipart(), "parts": parts})
        elif self.path == "/graphql":
            try:
                req = json.loads(body)
            except ValueError:
                self.reply(400, {"errors": [{"message": "the body is not JSON"}]})
                return
            seen = {"content_type": self.headers.get("Content-Type"),
                    "accept": self.headers.get("Accept"),
                    "operationName": req.get("operationName")}
            q = req.get("query", "")
            pid = (req.get("variables") or {}).get("id")
            if "product" not in q:
                self.reply(200, {"errors": [{"message": "Cannot query field on type Query"}],
                                 "seen": seen})
            elif pid in PRODUCTS:
                self.reply(200, {"data": {"product": PRODUCTS[pid]}, "seen": seen})
            else:
                self.reply(200, {"data": {"product": None}, "seen": seen,
                                 "errors": [{"message": "no product %s" % pid,
                                             "path": ["product"]}]})
        else:
            self.reply(404, {"error": "no such path"})


def start_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    harness._cleanups.append(srv.shutdown)
    return "http://127.0.0.1:%d" % srv.server_address[1]


def report_of(args, env=None, junit=False):
    d = tempdir("vigil-shapes-")
    rp = os.path.join(d, "report.json")
    jp = os.path.join(d, "junit.xml")
    extra = ["--report", "json:" + rp] + (["--report", "junit:" + jp] if junit else [])
    r = run_probe(list(args) + extra, env=env)
    return r, load_json(rp), jp


def steps(rep, i=0):
    try:
        return rep["journeys"][i]["steps"]
    except (TypeError, KeyError, IndexError):
        return []


def body_json(step):
    try:
        return json.loads(step["response"]["body"])
    except (KeyError, TypeError, ValueError):
        return None


# ---------------------------------------------------------------- multipart

def test_multipart(srv):
    d = tempdir("vigil-mp-")
    os.makedirs(os.path.join(d, "fixtures"))
    png = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(3000) + b"\x00\r\n--x"
    with open(os.path.join(d, "fixtures", "a.png"), "wb") as f:
        f.write(png)
    write_file(os.path.join(d, "fixtures", "note.txt"), "plain note\n")
    j = {"name": "upload", "variables": {"base": srv, "who": "bob"},
         "steps": [{"name": "send", "request": {"url": "{{base}}/upload", "multipart": [
             {"name": "f", "file": "fixtures/a.png", "content_type": "image/png"},
             {"name": "n", "file": "fixtures/note.txt", "filename": "renamed.txt"},
             {"name": "k", "value": "hi {{who}}"}]},
             "expect": {"json": {"$.multipart": True}}}]}
    path = write_journey(d, "upload.json", j)
    # The html report records the response body, which is the server's parse.
    r = run_probe(["run", path, "--report", "json:" + os.path.join(d, "r.json"),
                   "--report", "html:" + os.path.join(d, "r.html")])
    check("multipart journey passes", r.code == 0, r.brief())
    rep = load_json(os.path.join(d, "r.json"))
    st = steps(rep)
    got = body_json(st[0]) if st else None
    parts = {p["name"]: p for p in (got or {}).get("parts", [])}
    check("the server's MIME parser finds three parts", len(parts) == 3, got)
    f = parts.get("f", {})
    check("file part: bytes unchanged (sha256 of the fixture)",
          f.get("sha256") == hashlib.sha256(png).hexdigest() and f.get("size") == len(png), f)
    check("file part: filename is the file's name, content type as given",
          f.get("filename") == "a.png" and f.get("content_type") == "image/png", f)
    n = parts.get("n", {})
    check("\"filename\" renames a file part", n.get("filename") == "renamed.txt"
          and n.get("text") == "plain note\n", n)
    k = parts.get("k", {})
    check("value part is templated and has no filename", k.get("text") == "hi bob"
          and k.get("filename") is None, k)

    # A missing file is a load error at the "file" value.
    bad = json.loads(json.dumps(j))
    bad["steps"][0]["request"]["multipart"][0]["file"] = "fixtures/missing.png"
    bpath = os.path.join(d, "bad.json")
    write_file(bpath, json.dumps(bad, indent=1))
    line = next(i + 1 for i, t in enumerate(open(bpath).read().splitlines()) if "missing.png" in t)
    r = run_probe(["validate", bpath])
    check("missing multipart file: validate exits 2", r.code == 2, r.brief())
    check("missing multipart file: error names file:line and the file",
          ("bad.json:%d:" % line) in r.stderr and "fixtures/missing.png" in r.stderr
          and "No such file" in r.stderr, r.stderr)
    bad["steps"][0]["request"]["multipart"][0] = {"name": "f", "value": "a", "file": "x"}
    write_file(bpath, json.dumps(bad))
    r = run_probe(["validate", bpath])
    check("a part with both value and file is refused", r.code == 2
          and "exactly one of \"value\" and \"file\"" in r.stderr, r.brief())
    bad["steps"][0]["request"]["multipart"] = [{"name": "f", "value": "a"}]
    bad["steps"][0]["request"]["headers"] = {"Content-Type": "multipart/form-data"}
    write_file(bpath, json.dumps(bad))
    r = run_probe(["validate", bpath])
    check("multipart with a Content-Type header is refused (boundary)", r.code == 2
          and "Content-Type" in r.stderr, r.brief())


# ---------------------------------------------------------------- graphql

def graphql_journey(srv, pid, expect=None, op=None):
    g = {"query": "query Product($id: ID!) { product(id: $id) { id name } }",
         "variables": {"id": "{{pid}}"}}
    if op:
        g["operation_name"] = op
    step = {"name": "product", "request": {"url": "{{base}}/graphql", "graphql": g},
            "capture": {"name": {"json": "$.data.product.name"}}}
    if expect is not None:
        step["expect"] = expect
        step.pop("capture")
    return {"name": "gql", "variables": {"base": srv, "pid": pid}, "steps": [step]}


def test_graphql(srv):
    d = tempdir("vigil-gql-")
    r, rep, _ = report_of(["run", write_journey(d, "ok.json", graphql_journey(srv, "A-1", op="Product")),
                           "--report", "html:" + os.path.join(d, "r.html")])
    st = steps(rep)
    check("GraphQL query with data passes", r.code == 0, r.brief())
    check("capture from $.data works", st and st[0].get("captures", {}).get("name") == "Anvil", st)
    seen = (body_json(st[0]) or {}).get("seen", {}) if st else {}
    check("sent as a JSON POST with operationName and the GraphQL Accept",
          st and st[0].get("method") == "POST" and seen.get("content_type") == "application/json"
          and seen.get("operationName") == "Product"
          and "application/graphql-response+json" in (seen.get("accept") or ""), (st, seen))

    r, rep, _ = report_of(["run", write_journey(d, "err.json", graphql_journey(srv, "Z-9"))])
    st = steps(rep)
    fl = st[0].get("failures", []) if st else []
    check("a 200 response with errors fails the step (exit 1)", r.code == 1, r.brief())
    check("the failure has the first error's message",
          fl and fl[0].get("check") == "graphql errors" and fl[0].get("actual") == "no product Z-9"
          and fl[0].get("expected") == "no errors", fl)

    r, rep, _ = report_of(["run", write_journey(d, "want.json", graphql_journey(
        srv, "Z-9", expect={"graphql_errors": True, "json": {"$.errors[0].message": "no product Z-9"}}))])
    check("\"graphql_errors\": true: a response with errors passes", r.code == 0, r.brief())
    r, rep, _ = report_of(["run", write_journey(d, "want2.json", graphql_journey(
        srv, "A-1", expect={"graphql_errors": True}))])
    fl = steps(rep)[0].get("failures", []) if steps(rep) else []
    check("\"graphql_errors\": true: a response without errors fails", r.code == 1
          and fl and fl[0].get("actual") == "none", (r.brief(), fl))

    bad = graphql_journey(srv, "A-1")
    bad["steps"][0]["request"]["method"] = "GET"
    r = run_probe(["validate", write_journey(d, "bad.json", bad)])
    check("graphql with method GET is refused at load time", r.code == 2
          and "JSON POST" in r.stderr, r.brief())
    bad = {"name": "x", "steps": [{"request": {"url": "http://127.0.0.1:1/", "json": {}},
                                   "expect": {"graphql_errors": True}}]}
    r = run_probe(["validate", write_journey(d, "bad2.json", bad)])
    check("graphql_errors without a graphql request is refused", r.code == 2
          and "goes only with a \"graphql\" request" in r.stderr, r.brief())


# ---------------------------------------------------------------- --data

CSV_TEXT = ('user,note,code\r\n'
            'alice,"comma, inside",200\r\n'
            'bob,"quote ""q"" and\r\nnewline",200\r\n'
            '"carol",plain,500\r\n')


def data_journey(shop):
    return {"name": "rows", "variables": {"base": shop.base, "user": None, "note": "-",
                                          "code": "200"},
            "steps": [{"name": "echo", "request": {"method": "POST", "url": "{{base}}/echo",
                                                   "json": {"user": "{{user}}", "note": "{{note}}"}},
                       "capture": {"sent": {"json": "$.json"}}},
                      {"name": "status", "request": {"url": "{{base}}/status/{{code}}"},
                       "expect": {"status": 200}}]}


def test_data(shop):
    d = tempdir("vigil-data-")
    path = write_journey(d, "rows.json", data_journey(shop))
    data = os.path.join(d, "users.csv")
    with open(data, "w", newline="") as f:
        f.write(CSV_TEXT)
    ref = list(csv.DictReader(io.StringIO(CSV_TEXT, newline="")))
    r, rep, jp = report_of(["run", path, "--data", data], junit=True)
    check("--data: a failing row fails the run (exit 1)", r.code == 1, r.brief())
    js = rep.get("journeys", []) if isinstance(rep, dict) else []
    check("--data: one run per row", len(js) == len(ref) == 3, len(js))
    for i, (j, row) in enumerate(zip(js, ref)):
        sent = (j["steps"][0].get("captures") or {}).get("sent") or {}
        check("row %d: the shop got the row's values (as Python's csv reads them)" % (i + 1),
              sent == {"user": row["user"], "note": row["note"]} and j.get("row") == i + 1,
              (sent, row))
    check("rows 1-2 pass, row 3 (code 500) fails",
          [j.get("passed") for j in js] == [True, True, False], [j.get("passed") for j in js])
    check("console names each iteration: rows [row 3]", "rows [row 3]" in r.stdout, r.stdout)
    try:
        suites = [s.get("name") for s in ET.parse(jp).getroot().iter("testsuite")]
    except (ET.ParseError, OSError) as e:
        suites = str(e)
    check("JUnit suites are named per row", suites == ["rows [row 1]", "rows [row 2]",
                                                       "rows [row 3]"], suites)

    jl = os.path.join(d, "users.jsonl")
    write_file(jl, '{"user": "dave", "code": 200}\n\n{"user": "erin", "note": "n2"}\n')
    r, rep, _ = report_of(["run", path, "--data", jl])
    js = rep.get("journeys", []) if isinstance(rep, dict) else []
    check("JSONL rows: exit 0, two runs (blank line skipped)", r.code == 0 and len(js) == 2,
          r.brief())
    sent = [(j["steps"][0].get("captures") or {}).get("sent") for j in js]
    check("JSONL rows: values sent, unset columns keep the journey's default",
          sent == [{"user": "dave", "note": "-"}, {"user": "erin", "note": "n2"}], sent)

    cases = [("short.csv", "user,note\nalice,x\nbob\n", "short.csv:3: 1 fields where the header has 2"),
             ("open.csv", 'user,note\nalice,"never closed\n', "open.csv:2: a quoted field is not closed"),
             ("quote.csv", 'user,note\nal"ice,x\n', "quote.csv:2: a quote inside an unquoted field"),
             ("typo.csv", "usr\nalice\n", "typo.csv:1: column usr: no journey declares a variable"
              " \"usr\"; did you mean \"user\"?"),
             ("bad.jsonl", '{"user": "a"}\n{"user": }\n', "bad.jsonl:2:"),
             ("arr.jsonl", '["a"]\n', "arr.jsonl:1: each line must be a JSON object"),
             ("empty.csv", "user\n", "empty.csv: no rows"),
             ("rows.txt", "user\nx\n", "--data takes a .csv or a .jsonl")]
    for name, text, want in cases:
        p = os.path.join(d, name)
        write_file(p, text)
        before = shop.stats()
        r = run_probe(["run", path, "--data", p])
        check("--data %s: exit 2 naming %r, nothing sent" % (name, want),
              r.code == 2 and want in r.stderr and shop.stats() == before,
              r.brief())
    r = run_probe(["run", path, "--data", jl, "--repeat", "2"])
    check("--data with --repeat: each row N times, named [row R] #N", r.code == 0
          and "rows [row 2] #2" in r.stdout and r.stdout.count("PASS rows [row") == 8, r.stdout)
    many = os.path.join(d, "many.csv")
    write_file(many, "user\n" + "x\n" * 11)
    r = run_probe(["run", path, "--data", many, "--repeat", "1000000"])
    check("more than 10,000,000 journey runs in all: exit 2 before anything is sent",
          r.code == 2 and "1 journeys x --repeat 1000000 x 11 rows is more than 10000000" in r.stderr,
          r.brief())
    r = run_probe(["run", path, "--var", "user=x"])
    check("without --data the journey runs once", r.code == 0, r.brief())
    nouser = os.path.join(d, "nouser.jsonl")
    write_file(nouser, '{"user": "a"}\n{"note": "b"}\n')
    r = run_probe(["run", path, "--data", nouser])
    check("a row leaving a null variable unset: exit 2 naming its line", r.code == 2
          and "nouser.jsonl:2:" in r.stderr and "\"user\"" in r.stderr, r.brief())


# ---------------------------------------------------------------- --env-file

def test_env_file(shop):
    d = tempdir("vigil-env-")
    token = "tok-" + secrets.token_hex(12)
    j = {"name": "envj", "variables": {"base": None, "token": None, "region": "eu"},
         "steps": [{"name": "echo", "request": {"url": "{{base}}/echo?region={{region}}",
                                                "headers": {"Authorization": "Bearer {{token}}"}},
                    "capture": {"auth": {"json": "$.headers.authorization"},
                                "region": {"json": "$.query.region"}}}]}
    path = write_journey(d, "env.json", j)
    env = os.path.join(d, "staging.json")
    write_file(env, json.dumps({"variables": {"base": "http://127.0.0.1:1", "token": token,
                                              "region": "us"}, "secrets": ["token"]}))
    r, rep, _ = report_of(["run", path, "--env-file", env, "--var", "base=" + shop.base,
                           "--report", "html:" + os.path.join(d, "r.html")])
    st = steps(rep)
    caps = st[0].get("captures", {}) if st else {}
    check("--env-file run passes, --var base wins over the file's", r.code == 0, r.brief())
    check("the file's variable wins over the journey's default", caps.get("region") == "us", caps)
    check("the secret is sent (masked in the capture)", caps.get("auth") == "Bearer ***", caps)
    html = open(os.path.join(d, "r.html")).read() if os.path.exists(os.path.join(d, "r.html")) else ""
    everything = r.stdout + r.stderr + json.dumps(rep) + html
    check("the secret's value appears in no output (console, JSON, HTML)",
          token not in everything and "***" in html, "leaked" if token in everything else "no ***")

    cases = [({"variables": {"base": "x"}, "secrets": ["nope"]}, "staging2.json:1:",
              "a secret must name one of the \"variables\""),
             ({"variables": {"bsae": "x"}}, "variable bsae", "did you mean \"base\"?"),
             ({"variables": {"base": "x"}, "secret": []}, "unknown key \"secret\"", "\"secrets\""),
             ({"variables": {"token": ""}, "secrets": ["token"]}, "staging2.json:1:",
              "non-empty string")]
    bad = os.path.join(d, "bad-env.json")
    write_file(bad, json.dumps({"variables": {"bsae": "x"}}))
    r = run_probe(["schedule", "--every", "1s", "--push", "http://127.0.0.1:1", "--app", "a",
                   "--version", "1", "--env-file", bad, path], env={"VIGIL_TOKEN": "t"})
    check("probe schedule takes --env-file and checks it before starting", r.code == 2
          and "bad-env.json: variable bsae" in r.stderr, r.brief())
    for obj, want1, want2 in cases:
        p = os.path.join(d, "staging2.json")
        write_file(p, json.dumps(obj))
        r = run_probe(["run", path, "--env-file", p, "--var", "base=" + shop.base])
        check("--env-file %s: exit 2 with %r" % (json.dumps(obj)[:50], want2),
              r.code == 2 and want1 in r.stderr and want2 in r.stderr, r.brief())


def main():
    if not os.path.exists(harness.SHOP):
        check("scripts/example-shop exists", False, harness.SHOP)
        return 1
    try:
        shop = harness.Shop(password="pw-" + secrets.token_hex(8))
        srv = start_server()
    except Exception as exc:
        check("servers start on ephemeral ports", False, exc)
        return harness.finish() or 1
    harness.run_group(test_multipart, srv)
    harness.run_group(test_graphql, srv)
    harness.run_group(test_data, shop)
    harness.run_group(test_env_file, shop)
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
