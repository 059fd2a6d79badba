"""Integration tests of `probe import` (probe/README.md, "Import") on files other tools wrote:

- newman 4.6.1's example collections and test fixtures (its npm tarball ships them) and
  ReadMe's @readme/oas-examples 8.2.2 (the OpenAPI petstores, 3.0 and 3.1), fetched pinned
  by scripts/setup into bin/fixtures/ (nothing is downloaded here);
- a HAR that headless Chromium writes (playwright-core's recordHar) while a page of the
  example shop logs in and fills a cart with fetch and XMLHttpRequest;
- a curl command line in the form Chrome's "Copy as cURL (bash)" gives.

Imported journeys must pass `probe validate`, and run against the example shop where they
fit. Reference values come from the inputs themselves, read here with Python's json.
"""

import base64
import glob
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, run_probe  # noqa: E402

FIXTURES = os.path.join(harness.ROOT, "bin", "fixtures")
NEWMAN = os.path.join(FIXTURES, "newman")
WORKDIR = os.path.join(NEWMAN, "test", "fixtures", "files", "work-dir")
OAS = os.path.join(FIXTURES, "oas-examples")
RECORD_HAR = os.path.join(harness.HERE, "import", "record-har.mjs")
SUMMARY = re.compile(r"^probe import: (\d+) journey files? written, (\d+) items? not converted")


def imp(fmt, path, out, *extra, env=None):
    return run_probe(["import", fmt, path, "-o", out] + list(extra), env=env, timeout=60)


def written(out):
    return sorted(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".json")) \
        if os.path.isdir(out) else []


def listing(res):
    """The not-converted and note lines of an import (stderr without its summary)."""
    return [l for l in res.stderr.splitlines() if l and not l.startswith("probe import:")]


def summary(res):
    for l in res.stderr.splitlines():
        m = SUMMARY.match(l)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def collections():
    """Every Postman collection v2.x in newman's tarball (info.schema says which)."""
    found = []
    for d, _, files in os.walk(NEWMAN):
        for f in sorted(files):
            if not f.endswith(".json"):
                continue
            p = os.path.join(d, f)
            try:
                with open(p, encoding="utf-8-sig") as fh:
                    doc = json.load(fh)
            except (ValueError, UnicodeDecodeError):
                continue
            schema = doc.get("info", {}).get("schema", "") if isinstance(doc, dict) else ""
            if "/v2." in schema:
                found.append(p)
    return sorted(found)


def test_fixtures_present():
    check("newman 4.6.1's files are in bin/fixtures (scripts/setup fetches them)",
          os.path.isfile(os.path.join(NEWMAN, "package.json"))
          and '"4.6.1"' in harness.read_text(os.path.join(NEWMAN, "package.json")),
          "missing %s: run scripts/setup" % NEWMAN)
    check("@readme/oas-examples 8.2.2 is in bin/fixtures",
          os.path.isfile(os.path.join(OAS, "3.0", "json", "petstore.json")),
          "missing %s: run scripts/setup" % OAS)


def test_usage_and_invalid_input():
    d = harness.tempdir()
    r = run_probe(["import"])
    check("probe import without a format and file exits 2", r.code == 2, r.brief())
    r = run_probe(["import", "insomnia", "x.json"])
    check("an unknown format exits 2 and names the four", r.code == 2 and "postman, har, openapi or curl"
          in r.stderr, r.brief())
    r = run_probe(["import", "postman", "x.json", "--all"])
    check("--all with postman is a usage error (exit 2)", r.code == 2 and "--all goes with har" in r.stderr,
          r.brief())
    r = run_probe(["import", "openapi", "x.json", "--base-url", "petstore.local"])
    check("--base-url without a scheme exits 2", r.code == 2, r.brief())

    bad = harness.write_file(os.path.join(d, "bad.json"), '{\n  "info": {,\n}')
    try:
        json.loads(harness.read_text(bad))
        where = None
    except json.JSONDecodeError as e:
        where = "%s:%d:%d:" % (bad, e.lineno, e.colno)   # Python's position of the error
    out = os.path.join(d, "out-bad")
    r = imp("postman", bad, out)
    check("invalid JSON exits 2 with FILE:LINE:COL (the position Python's json gives)",
          r.code == 2 and where and where in r.stderr, "%s; want %s" % (r.brief(), where))
    check("nothing is written for invalid input", written(out) == [], written(out))

    y = harness.write_file(os.path.join(d, "api.yaml"), "openapi: 3.0.0\ninfo:\n  title: x\n")
    q = harness.write_file(os.path.join(d, "q.sh"), "curl 'http://127.0.0.1:1/x \\\n  -H 'a: b'\n")
    for what, fmt, path, needles in (
            ("a missing file, named", "postman", os.path.join(d, "missing.json"),
             ["missing.json: cannot open"]),
            ("newman's v1 collection: export as v2.1", "postman",
             os.path.join(NEWMAN, "examples", "v1.postman_collection.json"), ["v1", "v2.1"]),
            ("a Swagger 2.0 petstore", "openapi", os.path.join(OAS, "2.0", "json", "petstore.json"),
             ["Swagger 2.0"]),
            ("OpenAPI YAML, with how to convert it", "openapi", y, ["JSON only", "convert"]),
            ("a file that is no HAR", "har", os.path.join(OAS, "3.0", "json", "petstore.json"),
             ["not a HAR"]),
            ("a curl quote never closed, at the quote", "curl", q, ["q.sh:2:", "never closed"])):
        r = imp(fmt, path, out)
        check("refused with exit 2: %s" % what, r.code == 2 and all(n in r.stderr for n in needles),
              r.brief())
    empty = harness.write_file(os.path.join(d, "empty.sh"), "# nothing here\n\n")
    r = imp("curl", empty, out)
    check("nothing to convert exits 3", r.code == 3 and written(out) == [], r.brief())

    # An existing file is not overwritten without --force, and nothing else is written.
    cmd = harness.write_file(os.path.join(d, "one.sh"), "curl http://127.0.0.1:1/healthz\n")
    out2 = os.path.join(d, "out2")
    os.makedirs(out2)
    harness.write_file(os.path.join(out2, "one.json"), "keep me")
    r = imp("curl", cmd, out2)
    check("an existing journey file is kept without --force (exit 2)", r.code == 2
          and harness.read_text(os.path.join(out2, "one.json")) == "keep me" and "--force" in r.stderr,
          r.brief())
    r = imp("curl", cmd, out2, "--force")
    check("--force overwrites it with a journey that validates", r.code == 0
          and run_probe(["validate", os.path.join(out2, "one.json")]).code == 0, r.brief())


def test_postman_corpus():
    colls = collections()
    check("newman's tarball holds v2 collections", len(colls) >= 50, len(colls))
    d = harness.tempdir()
    failed, unplaced, miscounted = [], [], []
    for i, c in enumerate(colls):
        out = os.path.join(d, "c%02d" % i)
        # newman's own tests run fixtures/run with --working-dir test/fixtures/files/work-dir
        # and the integration collections from newman's root
        wd = WORKDIR if "/fixtures/run/" in c else NEWMAN
        r = imp("postman", c, out, "--working-dir", wd)
        files = written(out)
        v = run_probe(["validate"] + files) if files else None
        if r.code != 0 or not files or v.code != 0:
            failed.append("%s: %s %s" % (os.path.relpath(c, NEWMAN), r.brief(200), v.brief(200) if v else ""))
            continue
        lines = listing(r)
        skipped = [l for l in lines if "not converted" in l]
        s = summary(r)
        if not s or s[0] != len(files) or s[1] < len(skipped) - len([l for l in skipped if "--var" in l]):
            miscounted.append("%s: %s vs %d listed" % (c, s, len(skipped)))
        for l in lines:
            if not l.startswith(c + ":"):
                unplaced.append(l)
    check("every v2 collection of newman imports (exit 0) into journeys that pass probe validate",
          not failed, failed[:3])
    inside = [f for f in glob.glob(os.path.join(d, "*", "*.json"))
              if '"multipart"' in harness.read_text(f)]
    parts = [p for f in inside for st in harness.load_json(f).get("steps", [])
             for p in st.get("request", {}).get("multipart", []) if "file" in p]
    check("form-data files become multipart parts naming newman's work-dir files relative"
          " to the journey", parts and all(
              os.path.samefile(os.path.join(os.path.dirname(f), p["file"]),
                               os.path.join(WORKDIR, "test.json")) or
              os.path.samefile(os.path.join(os.path.dirname(f), p["file"]),
                               os.path.join(WORKDIR, "..", "outside.json")) or
              os.path.basename(p["file"]).startswith("upload-file")
              for f in inside for st in harness.load_json(f).get("steps", [])
              for p in st.get("request", {}).get("multipart", []) if "file" in p), parts[:4])
    check("every listed item starts with the collection's name", not unplaced, unplaced[:3])
    check("the summary counts the journey files written and the items listed", not miscounted,
          miscounted[:3])


def line_of(path, text):
    for n, l in enumerate(harness.read_text(path).splitlines(), 1):
        if text in l:
            return n, l.index(text)
    return None, None


def test_postman_sample():
    """newman's examples/sample-collection.json: a test converted, one listed where it is."""
    src = os.path.join(NEWMAN, "examples", "sample-collection.json")
    doc = harness.load_json(src)
    d = harness.tempdir()
    r = imp("postman", src, d)
    files = written(d)
    check("sample-collection imports into one journey", r.code == 0 and len(files) == 1, r.brief())
    j = harness.load_json(files[0]) if files else {}
    steps = j.get("steps", [])
    check("one step per request, named as the items", [s.get("name") for s in steps]
          == [it["name"] for it in doc["item"]], steps)
    if len(steps) == 3:
        check("pm.expect(pm.response.json().args).to.have.property('source') -> $.args.source exists",
              steps[0].get("expect", {}).get("json") == {"$['args']['source']": {"exists": True}},
              steps[0].get("expect"))
        check("pm.response.to.be.ok -> status 200 (chai-postman: ok is 200)",
              steps[0].get("expect", {}).get("status") == 200, steps[0].get("expect"))
        raw = doc["item"][2]["request"]["body"]["raw"]
        check("a raw body with Content-Type application/json becomes the same JSON",
              steps[2]["request"].get("json") == json.loads(raw), steps[2]["request"])
        check("a raw text body stays text with its Content-Type",
              steps[1]["request"].get("body") == doc["item"][1]["request"]["body"]["raw"]
              and steps[1]["request"]["headers"].get("Content-Type") == "text/plain", steps[1]["request"])
        check("newman follows redirects, so the steps do", all(s.get("follow_redirects") for s in steps), steps)
    strict = os.path.join(d, "strict")
    r2 = imp("postman", src, strict, "--strict")
    check("--strict exits 1 when an item is listed, the journeys written all the same",
          r2.code == 1 and len(written(strict)) == 1, r2.brief())
    n, col = line_of(src, ".and.equal('newman-sample-github-collection')")
    want = "%s:%d:" % (src, n)
    lines = [l for l in listing(r) if "not converted" in l]
    check("the chained .and.equal(...) line is listed at its line in the file",
          len(lines) == 1 and lines[0].startswith(want) and "test script line 6" in lines[0],
          "%s; want %s" % (lines, want))


def test_postman_environment_run(shop):
    """globals-env-data-files: an environment file's values become variables; the journey
    runs against the shop's /echo with the values the environment gives."""
    base = os.path.join(NEWMAN, "test", "integration", "globals-env-data-files")
    coll = os.path.join(base, "globals-env-data-files.postman_collection.json")
    envf = os.path.join(base, "globals-env-data-files.postman_environment.json")
    envv = {v["key"]: v["value"] for v in harness.load_json(envf)["values"] if v.get("enabled", True)}
    d = harness.tempdir()
    r = imp("postman", coll, d, "--environment", envf)
    files = written(d)
    check("a collection with --environment imports", r.code == 0 and len(files) == 1, r.brief())
    if not files:
        return
    j = harness.load_json(files[0])
    check("the environment's values are the journey's variables",
          all(j["variables"].get(k) == v for k, v in envv.items()), j.get("variables"))
    check("names neither gives are declared null and listed with --var",
          j["variables"].get("global", "x") is None and "--var global=VALUE" in r.stderr, r.stderr[-500:])
    check("every line of its scripts is listed (the pre-request script's included)",
          r.stderr.count("prerequest script line") == 3, r.stderr[-800:])
    rep = os.path.join(d, "run.json")
    run = run_probe(["run", files[0], "--var", "url=%s/echo" % shop.base, "--var", "global=g",
                     "--var", "prsE=e", "--var", "prsG=p", "--report", "json:" + rep])
    doc = harness.load_json(rep) or {}
    urls = [s.get("url") for jr in doc.get("journeys", []) for s in jr.get("steps", [])]
    want = "%s/echo/get?global=g&env=%s&data=%s&prsE=e&prsG=p" % (shop.base, envv["env"], envv["data"])
    check("the imported journey runs against the shop and passes", run.code == 0, run.brief())
    check("its first request carries the environment's values", urls[:1] == [want], (urls, want))
    run = run_probe(["run", files[0]])
    check("without the --var it needs, probe run exits 2 naming the variable", run.code == 2
          and "global" in run.stderr, run.brief())


def har_entries_kept(har):
    """The entries an import keeps by the HAR's own _resourceType (Chromium's words)."""
    return [e for e in har["log"]["entries"]
            if e.get("_resourceType") in ("document", "xhr", "fetch")]


def test_har(shop):
    d = harness.tempdir()
    har_path = os.path.join(d, "shop.har")
    rec = subprocess.run(["node", RECORD_HAR, shop.base, har_path], cwd=harness.ROOT,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=120, env=dict(os.environ, VIGIL_ROOT=harness.ROOT))
    har = harness.load_json(har_path)
    check("headless Chromium wrote a HAR of the shop", rec.returncode == 0 and har,
          rec.stderr.decode("utf-8", "replace")[-500:])
    if not har:
        return
    entries = har["log"]["entries"]
    kept = har_entries_kept(har)
    statics = [e for e in entries if e.get("_resourceType") in ("image", "script")]
    out = os.path.join(d, "out")
    r = imp("har", har_path, out)
    files = written(out)
    check("the HAR imports into one journey that validates", r.code == 0 and len(files) == 1
          and run_probe(["validate"] + files).code == 0, r.brief())
    if not files:
        return
    text = harness.read_text(files[0])
    j = json.loads(text)
    steps = j["steps"]
    want = [(e["request"]["method"], e["request"]["url"].replace(shop.base, "{{base}}")) for e in kept]
    got = [(s["request"].get("method"), s["request"]["url"]) for s in steps]
    check("the document and the XHR/fetch requests, in the HAR's order, the shop's origin as {{base}}",
          got == want and len(want) == 6, (got, want))
    check("each step expects the status recorded", [s.get("expect", {}).get("status") for s in steps]
          == [e["response"]["status"] for e in kept], steps)
    check("the image and the script are listed as skipped static assets",
          len(statics) == 2 and all(("%s: a static asset" % e["request"]["url"]) in r.stderr
                                    for e in statics), r.stderr[-800:])
    cookies = [h for e in kept for h in e["request"]["headers"] if h["name"].lower() == "cookie"]
    check("Cookie headers are dropped (the recording sent %d) and that is said" % len(cookies),
          "cookie" not in text.lower().replace("cookie jar", "") and len(cookies) > 0
          and "Cookie header of" in r.stderr, r.stderr[-500:])
    auth = [h["value"] for e in kept for h in e["request"]["headers"] if h["name"].lower() == "authorization"]
    login = [i for i, e in enumerate(kept) if e["request"]["url"].endswith("/api/login")]
    token = json.loads(kept[login[0]]["response"]["content"]["text"])["token"] if login else None
    check("the bearer token the login answered is captured there ($.token) and sent as {{token}}",
          auth and auth[0] == "Bearer " + token and token not in text
          and steps[login[0]].get("capture") == {"token": {"json": "$['token']"}}
          and sum(s["request"].get("headers", {}).get("Authorization") == "Bearer {{token}}"
                  for s in steps) == len(auth), (auth[:1], steps))
    key = [h["value"] for e in kept for h in e["request"]["headers"] if h["name"].lower() == "x-api-key"]
    check("an API key no response gave is a {{secret.X_API_KEY}} placeholder, said on stderr",
          key and key[0] not in text and '"X-Api-Key": "{{secret.X_API_KEY}}"' in text
          and "set X_API_KEY in the environment" in r.stderr, (key, r.stderr[-500:]))
    check("the login password is a {{secret.PASSWORD}} placeholder too",
          '"password": "{{secret.PASSWORD}}"' in text and '"secret"' not in text, text[:800])
    run = run_probe(["run", files[0]], env={"X_API_KEY": key[0] if key else "", "PASSWORD": shop.password})
    check("the imported HAR journey logs in itself against the shop and passes", run.code == 0, run.brief())
    out_all = os.path.join(d, "all")
    r = imp("har", har_path, out_all, "--all")
    files = written(out_all)
    n = len(harness.load_json(files[0])["steps"]) if files else 0
    check("--all keeps the static assets too", r.code == 0 and n == len(kept) + len(statics), (n, r.brief()))


def required_props(spec, schema, depth=0):
    """The required properties of a schema, local $refs and allOf followed (reference)."""
    while isinstance(schema, dict) and "$ref" in schema:
        node = spec
        for part in schema["$ref"][2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        schema = node
    if not isinstance(schema, dict) or depth > 30:
        return set()
    out = set(schema.get("required", []))
    for part in schema.get("allOf", []):
        out |= required_props(spec, part, depth + 1)
    return out


def test_openapi_petstore(shop):
    d = harness.tempdir()
    src = os.path.join(OAS, "3.0", "json", "petstore-expanded.json")
    spec = harness.load_json(src)
    out = os.path.join(d, "expanded")
    r = imp("openapi", src, out)
    files = written(out)
    check("the OpenAPI Initiative's petstore-expanded imports and validates", r.code == 0
          and len(files) == 1 and run_probe(["validate"] + files).code == 0, r.brief())
    if files:
        j = harness.load_json(files[0])
        gets = [(p, o) for p, item in spec["paths"].items() for m, o in item.items() if m == "get"
                and not any(x.get("required") for x in o.get("parameters", []))]
        check("one step per GET without required parameters", [s["request"]["url"] for s in j["steps"]]
              == ["{{base}}" + p for p, _ in gets], j["steps"])
        check("its base is servers[0]", j["variables"]["base"] == spec["servers"][0]["url"], j["variables"])
        check("the documented 200 is expected", j["steps"][0]["expect"]["status"] == 200, j["steps"][0])
        check("the others are listed: POST, DELETE, and GET /pets/{id} for its path parameter",
              "post /pets: not a GET" in r.stderr and "delete /pets/{id}: not a GET" in r.stderr
              and 'GET /pets/{id} (find pet by id): needs the path parameter "id"' in r.stderr, r.stderr)
        run = run_probe(["run", files[0], "--var", "base=%s/echo" % shop.base])
        check("run against the shop's /echo (an object, not the list the schema says) it fails on $",
              run.code == 1 and "json $" in run.output, run.brief())
    for ver in ("3.0", "3.1"):
        src = os.path.join(OAS, ver, "json", "petstore.json")
        spec = harness.load_json(src)
        out = os.path.join(d, "petstore" + ver)
        r = imp("openapi", src, out, "--base-url", shop.base + "/echo")
        files = written(out)
        tags = sorted({o["tags"][0] for p, item in spec["paths"].items() for m, o in item.items()
                       if m == "get" and not any(x.get("required") for x in o.get("parameters", []))})
        check("petstore %s: one journey per tag of its smoke steps (%s)" % (ver, tags), r.code == 0
              and sorted(harness.load_json(f)["name"] for f in files) == tags, r.brief())
        inv = harness.read_text(os.path.join(out, "store.json"))
        check("petstore %s: getInventory's api_key security is a {{secret.API_KEY}} header" % ver,
              '"api_key": "{{secret.API_KEY}}"' in inv, inv)
        run = run_probe(["run"] + files, env={"API_KEY": "k"})
        check("petstore %s: the smoke journeys pass against the shop's /echo (--base-url)" % ver,
              run.code == 0, run.brief())
    for name, some in (("readme.json", True), ("train-travel.json", False)):
        check_required(d, os.path.join(OAS, "3.1", "json", name), some)
    # Neither real file has required properties under an allOf: a small spec of our own
    # does (the expected checks are read off it by hand).
    spec = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "servers": [{"url": "%s/echo" % shop.base}],
            "paths": {"/me": {"get": {"responses": {"200": {"content": {"application/json": {
                "schema": {"allOf": [{"$ref": "#/components/schemas/Base"},
                                     {"required": ["path"]}]}}}}}}}},
            "components": {"schemas": {"Base": {"type": "object", "required": ["method"]}}}}
    src = harness.write_journey(d, "allof.json", spec)
    out = os.path.join(d, "allof")
    r = imp("openapi", src, out)
    files = written(out)
    j = harness.load_json(files[0]) if files else {}
    check("allOf with a $ref: the required properties of every part are checked",
          j.get("steps", [{}])[0].get("expect", {}).get("json")
          == {"$['method']": {"exists": True}, "$['path']": {"exists": True}}, (j, r.brief()))
    run = run_probe(["run"] + files)
    check("and the shop's /echo, which answers method and path, passes them", run.code == 0, run.brief())


def check_required(d, src, some):
    """Each step checks the required properties of its 2xx JSON schema (allOf included)."""
    spec = harness.load_json(src)
    out = os.path.join(d, os.path.basename(src))
    r = imp("openapi", src, out)
    files = written(out)
    bad = []
    checked = 0
    for f in files:
        for s in harness.load_json(f)["steps"]:
            path = s["request"]["url"][len("{{base}}"):]
            op = spec["paths"][path]["get"]
            code = str(s["expect"]["status"])
            resp = op["responses"][code]
            while "$ref" in resp:
                resp = spec["components"]["responses"][resp["$ref"].split("/")[-1]]
            schema = next((c.get("schema") for mt, c in resp.get("content", {}).items() if "json" in mt), None)
            want = {"$['%s']" % p: {"exists": True} for p in required_props(spec, schema)} if schema else {}
            got = s["expect"].get("json", {})
            if got != want and not (got.get("$") == {"type": "array"}):
                bad.append((path, got, want))
            checked += bool(want)
    check("%s: each step checks the required properties of its 2xx schema (%d steps with some)"
          % (os.path.basename(src), checked), r.code == 0 and files and not bad and (checked > 0) == some,
          (bad[:2], checked, r.brief()))


def test_curl(shop):
    d = harness.tempdir()
    # The form of Chrome's "Copy as cURL (bash)": one option per line, single quotes, $'...'
    # where the text needs escapes, -b for cookies, --data-raw, --compressed.
    text = ("curl '%(b)s/api/login' \\\n"
            "  -H 'accept: */*' \\\n"
            "  -H 'accept-language: en-US,en;q=0.9' \\\n"
            "  -H 'content-type: application/json' \\\n"
            "  -b 'session=abc123; theme=dark' \\\n"
            "  -H $'x-note: it\\'s \\u00e9t\\u00e9' \\\n"
            "  -H 'sec-fetch-mode: cors' \\\n"
            "  --data-raw $'{\"user\":\"me@example.com\",\"password\":\"%(pw)s\"}' \\\n"
            "  --compressed ;\n"
            "curl -sS -u probe:hunter2 '%(b)s/echo/who' -X PUT -k\n"
            "curl '%(b)s/echo/f' -d @payload.json\n" % {"b": shop.base, "pw": shop.password})
    src = harness.write_file(os.path.join(d, "login.sh"), text)
    out = os.path.join(d, "out")
    r = imp("curl", src, out)
    files = written(out)
    check("Copy-as-cURL commands import into one journey that validates", r.code == 0
          and len(files) == 1 and run_probe(["validate"] + files).code == 0, r.brief())
    if not files:
        return
    j = harness.load_json(files[0])
    steps = j["steps"]
    s0 = steps[0]["request"] if steps else {}
    check("three commands, three steps, the first URL's origin as {{base}}", len(steps) == 3
          and j["variables"]["base"] == shop.base and s0.get("url") == "{{base}}/api/login", j)
    check("$'...' quoting is decoded as bash does (\\' and \\u escapes)",
          s0.get("headers", {}).get("x-note") == "it's \u00e9t\u00e9", s0.get("headers"))
    check("--data-raw JSON becomes the step's json body, its password a secret",
          s0.get("json") == {"user": "me@example.com", "password": "{{secret.PASSWORD}}"}, s0)
    check("the -b cookies are a {{secret.COOKIE}} header; sec-fetch headers stay as given",
          s0.get("headers", {}).get("Cookie") == "{{secret.COOKIE}}", s0.get("headers"))
    s1 = steps[1]["request"] if len(steps) > 1 else {}
    check("-X PUT and -u are the method and a {{secret.AUTHORIZATION}} (RFC 7617 Basic)",
          s1.get("method") == "PUT" and s1.get("headers", {}).get("Authorization") == "{{secret.AUTHORIZATION}}",
          s1)
    check("-k is said to be probe run's --insecure", "-k is not part of a journey" in r.stderr, r.stderr)
    check("-d @file is listed as not converted at its line", (src + ":11:") in r.stderr
          and "-d @payload.json reads the body from a file: not converted" in r.stderr, r.stderr)
    basic = "Basic " + base64.b64encode(b"probe:hunter2").decode()
    rep = os.path.join(d, "run.json")
    run = run_probe(["run", files[0], "--report", "json:" + rep],
                    env={"PASSWORD": shop.password, "COOKIE": "session=abc123", "AUTHORIZATION": basic})
    check("the imported commands run against the shop and pass", run.code == 0, run.brief())
    stdin = subprocess.run(harness.probe_command(["import", "curl", "-", "-o", os.path.join(d, "stdin")]),
                           input=("curl %s/healthz\n" % shop.base).encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
    check("FILE - reads the command from stdin", stdin.returncode == 0
          and written(os.path.join(d, "stdin")), stdin.stderr.decode()[-300:])


def main():
    harness.run_group(test_fixtures_present)
    harness.run_group(test_usage_and_invalid_input)
    harness.run_group(test_postman_corpus)
    harness.run_group(test_postman_sample)
    shop = harness.Shop()
    harness.run_group(test_postman_environment_run, shop)
    harness.run_group(test_har, shop)
    harness.run_group(test_openapi_petstore, shop)
    harness.run_group(test_curl, shop)
    return harness.finish()


if __name__ == "__main__":
    sys.exit(main())
