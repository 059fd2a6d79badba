# What libwebsockets holds of each connection of the collector, printed by gdb attached to
# a process running server_run (collector/server.h): for each service thread its poll
# table, its requests waiting for the writer or a reader, and every wsi lws knows (by fd and
# bound to a protocol) with its state, buffer list, header table, timeout and request.
# It reads lws 4.1.6's private structures (lib/core-net/private-lib-core-net.h), so it is a
# diagnostic for that version only. fuzz_http runs it when FUZZ_HTTP_GDB names this file
# (tests/fuzz/README.md); by hand: gdb -q -p PID -batch -x tests/fuzz/lws-state.gdb
set pagination off
python
import gdb
def fields(v): return [f.name for f in v.type.fields()]
def show_wsi(w, tag):
    w = w.dereference()
    ah = w["http"]["ah"]
    tot = 0; bl = w["buflist"]
    while int(bl):
        b = bl.dereference(); tot += int(b["len"]) - int(b["pos"]); bl = b["next"]
    print("%s wsi %s fd %d wsistate %#x role %s hdr_done %d zero_recv %d buflist %d bytes (on pt list %d) ah %s pending_timeout %d sul_timeout.us %d (listed %d) position_in_fds_table %d" % (
        tag, w.address, int(w["desc"]["sockfd"]), int(w["wsistate"]),
        w["role_ops"].dereference()["name"].string() if int(w["role_ops"]) else "-",
        int(w["hdr_parsing_completed"]), int(w["seen_zero_length_recv"]), tot,
        int(w["dll_buflist"]["owner"]) != 0, ah, int(w["pending_timeout"]),
        int(w["sul_timeout"]["us"]), int(w["sul_timeout"]["list"]["owner"]) != 0,
        int(w["position_in_fds_table"])))
    if int(ah):
        a = ah.dereference()
        print("    ah parser_state", int(a["parser_state"]), "pos", int(a["pos"]))
    if int(w["user_space"]):
        req = w["user_space"].cast(gdb.lookup_type("struct http_req").pointer()).dereference()
        print("    req waiting %d id %d status %d close %d route %s" % (int(req["waiting"]), int(req["id"]), int(req["status"]), int(req["close"]), req["route"]))
srv = gdb.parse_and_eval("signal_srv")
nt = int(srv["nthreads"])
print("service threads:", nt)
for t in range(nt):
    p = srv["pts"][t]
    ctx = p["ctx"]; pt = ctx["pt"][0]
    print("thread", t, "conns", int(p["conns"]), "handed", int(p["handed"]), "nhandoff", int(p["nhandoff"]), "fds_count", int(pt["fds_count"]))
    for i in range(int(pt["fds_count"])):
        print("   pollfd", int(pt["fds"][i]["fd"]), "events %#x" % int(pt["fds"][i]["events"]))
    for b in range(4096):
        r = p["pending"][b]
        while int(r):
            print("   pending req id", int(r["id"]), "wsi", r["wsi"]); r = r["next"]
    mf = int(ctx["max_fds"])
    for i in range(mf):
        w = ctx["lws_lookup"][i]
        if int(w): show_wsi(w, "  lookup[%d]" % i)
    vh = ctx["vhost_list"]
    while int(vh):
        v = vh.dereference()
        for k in range(int(v["count_protocols"])):
            own = v["same_vh_protocol_owner"][k]
            d = own["head"]
            while int(d):
                off = int(gdb.parse_and_eval("(long)&((struct lws *)0)->same_vh_protocol"))
                w = gdb.Value(int(d) - off).cast(gdb.lookup_type("struct lws").pointer())
                show_wsi(w, "  vhost %s proto %d" % (v["name"].string(), k))
                d = d.dereference()["next"]
        vh = v["vhost_next"]
end
