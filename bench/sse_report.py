#!/usr/bin/python3
"""bench/sse.sh's report: reads DIR/runs/*.json (ringcast-load summaries with a "bench" section),
takes the median of the repetitions of every (server, rate) point, and writes DIR/summary.json and
DIR/report.md: per server, deliveries/s, server CPU-seconds per 10^6 deliveries, client CPU %,
publishes/s reached, wire bytes per item, latency; and the ratios ringcast-sse / ringcast-ws (server CPU
per delivery, deliveries/s) and ringcast-sse / nchan-es (deliveries/s), per rate.

    bench/sse_report.py DIR
"""
import json
import os
import sys

from load_runs import bench_runs, load_figures, medians

ORDER = ["ringcast-ws", "ringcast-sse", "nchan-es"]
LABELS = {
    "ringcast-ws": "ringcast, WebSocket",
    "ringcast-sse": "ringcast, SSE",
    "nchan-es": "nchan, EventSource",
}


def figures(d):
    """The figures of one run (None where the run has no such number)."""
    return {**load_figures(d), "missing": d.get("delivery", {}).get("missing"), "clean": bool(d.get("clean")),
            "problems": d.get("problems", "")}


def main(out):
    points = {}
    for d in bench_runs(out):
        points.setdefault((d["bench"]["server"], d["bench"]["rate"]), []).append(figures(d))
    summary = []
    for (server, rate), fs in sorted(points.items(), key=lambda kv: (kv[0][1], ORDER.index(kv[0][0])
                                                                     if kv[0][0] in ORDER else 99)):
        m = medians(fs)
        m.update({"server": server, "rate": rate, "reps": len(fs), "clean_reps": sum(f["clean"] for f in fs),
                  "problems": [f["problems"] for f in fs if f["problems"]],
                  "each": {k: [f[k] for f in fs] for k in ("deliveries_per_s", "server_cpu_s_per_million")}})
        summary.append(m)
    by = {(p["server"], p["rate"]): p for p in summary}

    def ratio(a, b, k):
        return a[k] / b[k] if a and b and a.get(k) and b.get(k) else None

    ratios = []
    for rate in sorted({p["rate"] for p in summary}):
        sse, ws, nchan = by.get(("ringcast-sse", rate)), by.get(("ringcast-ws", rate)), by.get(("nchan-es", rate))
        ratios.append({"rate": rate,
                       "sse_vs_ws_server_cpu_per_delivery": ratio(sse, ws, "server_cpu_s_per_million"),
                       "sse_vs_ws_deliveries_per_s": ratio(sse, ws, "deliveries_per_s"),
                       "sse_vs_nchan_deliveries_per_s": ratio(sse, nchan, "deliveries_per_s"),
                       "sse_vs_nchan_server_cpu_per_delivery": ratio(sse, nchan, "server_cpu_s_per_million")})
    with open(os.path.join(out, "host.json")) as fp:
        host = json.load(fp)
    with open(os.path.join(out, "summary.json"), "w") as fp:
        json.dump({"host": host, "points": summary, "ratios": ratios}, fp, indent=1)

    def num(v, fmt):
        return "-" if v is None else fmt % v

    lines = ["# Server-Sent Events: ringcast SSE vs ringcast WebSocket vs nchan EventSource", "",
             "%s subscribers in one room, 64-byte items published at the rates below for %s s per run; server on "
             "core %s (ringcast --threads 1, nginx 1 worker), ringcast-load on core %s; medians of %s reps. "
             "Host: %s CPUs, kernel %s, load average at start %s; git %s; nginx %s, nchan %s.%s" % (
                 host["connections"], host["seconds"], host["server_cpu"], host["client_cpu"], host["reps"],
                 host["host"]["cpus"], host["host"]["kernel"], host.get("loadavg_at_start", "?"), host["git"],
                 host.get("versions", {}).get("nginx", "?"), host.get("versions", {}).get("nchan", "?"),
                 (" Note: " + host["note"]) if host.get("note") else ""),
             "",
             "| rate (items/s) | server | deliveries/s | server CPU-s per 10^6 | client CPU % | publishes/s "
             "| wire B/item | p50 / p99 ms | clean |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p in summary:
        lines.append("| %g | %s | %s | %s | %s | %s | %s | %s / %s | %d/%d |" % (
            p["rate"], LABELS.get(p["server"], p["server"]), num(p["deliveries_per_s"], "%.0f"),
            num(p["server_cpu_s_per_million"], "%.3f"), num(p["client_cpu_percent"], "%.0f"),
            num(p["publish_per_s"], "%.0f"), num(p["wire_bytes_per_item"], "%.1f"),
            num(p["p50_ms"], "%.1f"), num(p["p99_ms"], "%.1f"), p["clean_reps"], p["reps"]))
    lines += ["", "| rate | SSE / WS: server CPU per delivery | SSE / WS: deliveries/s | SSE / nchan: deliveries/s "
              "| SSE / nchan: server CPU per delivery |", "|---|---|---|---|---|"]
    for r in ratios:
        lines.append("| %g | %s | %s | %s | %s |" % (
            r["rate"], num(r["sse_vs_ws_server_cpu_per_delivery"], "%.2f"), num(r["sse_vs_ws_deliveries_per_s"], "%.2f"),
            num(r["sse_vs_nchan_deliveries_per_s"], "%.2f"), num(r["sse_vs_nchan_server_cpu_per_delivery"], "%.3f")))
    lines += ["", "Each run's figures (deliveries/s; server CPU-s per 10^6), in rep order:", ""]
    for p in summary:
        lines.append("- %g/s %s: %s; %s" % (
            p["rate"], p["server"], ", ".join(num(v, "%.0f") for v in p["each"]["deliveries_per_s"]),
            ", ".join(num(v, "%.3f") for v in p["each"]["server_cpu_s_per_million"])))
    notes = []
    for p in summary:
        if p["publish_per_s"] is not None and p["publish_per_s"] < 0.95 * p["rate"]:
            notes.append("%s at %g/s: publishes fell behind the plan (%.0f/s): the server was saturated, "
                         "deliveries/s is its capacity" % (p["server"], p["rate"], p["publish_per_s"]))
        if p["client_cpu_percent"] is not None and p["client_cpu_percent"] >= 90:
            notes.append("%s at %g/s: the client used %.0f%% of its core: this point measures the client" % (
                p["server"], p["rate"], p["client_cpu_percent"]))
        for problem in p["problems"]:
            notes.append("%s at %g/s: %s" % (p["server"], p["rate"], problem))
    if notes:
        lines += ["", "Notes:", ""] + ["- " + n for n in notes]
    lines += ["", "Server CPU: utime+stime of the server's processes from the end of the hold until everything "
              "was delivered, over the items delivered. Wire B/item: bytes of the messages (SSE: the events' "
              "bodies) that carried items, over the items delivered.", ""]
    with open(os.path.join(out, "report.md"), "w") as fp:
        fp.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1])
