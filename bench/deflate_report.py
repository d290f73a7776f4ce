#!/usr/bin/python3
"""bench/deflate.sh's report: reads DIR/runs/*.json (ringcast-load summaries with a "bench" section),
takes the median of the repetitions of every (server, rate) point, and writes DIR/summary.json and
DIR/report.md: per server, deliveries/s, wire bytes per delivered item, server CPU-seconds per 10^6
deliveries, client CPU %, and the ratios ringcast-on / ringcast-off and ringcast-on / uws-shared.

    bench/deflate_report.py DIR
"""
import json
import os
import sys

from load_runs import bench_runs, load_figures, medians

ORDER = ["ringcast-off", "ringcast-on", "uws-shared", "uws-off"]
LABELS = {
    "ringcast-off": "ringcast --compression false",
    "ringcast-on": "ringcast --compression true",
    "uws-shared": "uWS SHARED_COMPRESSOR",
    "uws-off": "uWS, no compression",
}


def figures(d):
    """The figures of one run (None where the run has no such number)."""
    b, deflate = d["bench"], d.get("deflate", {})
    wire = deflate.get("payload_wire_bytes")
    return {
        **load_figures(d),
        "inflate_ratio": deflate["payload_inflated_bytes"] / wire if wire else None,
        "deflate_connections": deflate.get("connections"),
        "clean": bool(d.get("clean")) and not b.get("dropped"),
        "problems": "; ".join(p for p in (d.get("problems", ""), b.get("dropped", "")) if p),
    }


def main(out):
    points = {}
    for d in bench_runs(out):
        key = (d["bench"]["server"], d["bench"]["rate"])
        points.setdefault(key, []).append(figures(d))
    summary = []
    for (server, rate), fs in sorted(points.items(), key=lambda kv: (kv[0][1], ORDER.index(kv[0][0])
                                                                     if kv[0][0] in ORDER else 99)):
        m = medians(fs)
        m.update({"server": server, "rate": rate, "reps": len(fs), "clean_reps": sum(f["clean"] for f in fs),
                  "problems": [f["problems"] for f in fs if f["problems"]]})
        summary.append(m)
    by = {(p["server"], p["rate"]): p for p in summary}
    ratios = []
    for rate in sorted({p["rate"] for p in summary}):
        on, off, uws = by.get(("ringcast-on", rate)), by.get(("ringcast-off", rate)), by.get(("uws-shared", rate))

        def ratio(a, b, k):
            return a[k] / b[k] if a and b and a.get(k) and b.get(k) else None

        ratios.append({"rate": rate,
                       "on_vs_off_wire_bytes_per_item": ratio(on, off, "wire_bytes_per_item"),
                       "on_vs_off_deliveries_per_s": ratio(on, off, "deliveries_per_s"),
                       "on_vs_uws_shared_deliveries_per_s": ratio(on, uws, "deliveries_per_s"),
                       "on_vs_off_server_cpu_per_delivery": ratio(on, off, "server_cpu_s_per_million")})
    with open(os.path.join(out, "host.json")) as fp:
        host = json.load(fp)
    with open(os.path.join(out, "summary.json"), "w") as fp:
        json.dump({"host": host, "points": summary, "ratios": ratios}, fp, indent=1)

    def num(v, fmt):
        return "-" if v is None else fmt % v

    lines = ["# permessage-deflate: ringcast vs uWebSockets", "",
             "%s connections in one room, all offering permessage-deflate (ringcast-load --deflate), danmaku "
             "items (50-300 byte JSON chat objects), %s s of publishing per run; server on core %s, client on "
             "core %s; ringcast merge window %s ms; medians of %s reps. Host: %s CPUs, kernel %s; git %s.%s" % (
                 host["connections"], host["seconds"], host["server_cpu"], host["client_cpu"],
                 host.get("merge_window_ms", 0), host["reps"],
                 host["host"]["cpus"], host["host"]["kernel"], host["git"],
                 (" Note: " + host["note"]) if host.get("note") else ""),
             "",
             "| rate (items/s) | server | deliveries/s | wire B/item | server CPU-s per 10^6 | client CPU % "
             "| publishes/s | inflate x | deflate conns | p50 / p99 ms | clean |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in summary:
        lines.append("| %g | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %d/%d |" % (
            p["rate"], LABELS.get(p["server"], p["server"]), num(p["deliveries_per_s"], "%.0f"),
            num(p["wire_bytes_per_item"], "%.1f"), num(p["server_cpu_s_per_million"], "%.3f"),
            num(p["client_cpu_percent"], "%.0f"), num(p["publish_per_s"], "%.0f"), num(p["inflate_ratio"], "%.2f"),
            num(p["deflate_connections"], "%.0f"), num(p["p50_ms"], "%.1f"), num(p["p99_ms"], "%.1f"),
            p["clean_reps"], p["reps"]))
    lines += ["", "| rate | ringcast on/off: wire B/item | on/off: deliveries/s | on/off: server CPU per delivery "
              "| on / uWS shared: deliveries/s |", "|---|---|---|---|---|"]
    for r in ratios:
        lines.append("| %g | %s | %s | %s | %s |" % (
            r["rate"], num(r["on_vs_off_wire_bytes_per_item"], "%.2f"), num(r["on_vs_off_deliveries_per_s"], "%.2f"),
            num(r["on_vs_off_server_cpu_per_delivery"], "%.2f"), num(r["on_vs_uws_shared_deliveries_per_s"], "%.2f")))
    notes = []
    for p in summary:
        if p["publish_per_s"] is not None and p["publish_per_s"] < 0.95 * p["rate"]:
            notes.append("%s at %g/s: publishes fell behind the plan (%.0f/s): the server was saturated, "
                         "deliveries/s is its capacity" % (p["server"], p["rate"], p["publish_per_s"]))
        if p["client_cpu_percent"] is not None and p["client_cpu_percent"] >= 90:
            notes.append("%s at %g/s: the client used %.0f%% of its core: this point measures the client" % (
                p["server"], p["rate"], p["client_cpu_percent"]))
        compressing = p["server"] in ("ringcast-on", "uws-shared")
        if p["deflate_connections"] is not None and (p["deflate_connections"] < host["connections"]) == compressing:
            notes.append("%s at %g/s: %.0f of %d connections negotiated permessage-deflate, not what the server "
                         "name says" % (p["server"], p["rate"], p["deflate_connections"], host["connections"]))
        for problem in p["problems"]:
            notes.append("%s at %g/s: %s" % (p["server"], p["rate"], problem))
    if notes:
        lines += ["", "Notes:", ""] + ["- " + n for n in notes]
    lines += ["", "Wire B/item: bytes of the WebSocket frames (headers included) of the messages that carried "
              "items, over the items delivered. Server CPU: utime+stime of the server process from the end of "
              "the hold until everything was delivered.", ""]
    with open(os.path.join(out, "report.md"), "w") as fp:
        fp.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1])
