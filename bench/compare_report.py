#!/usr/bin/python3
"""bench/compare.sh's report of its ringcast-load scenarios: reads DIR/runs/*.json (ringcast-load and
ringcast-rawcast summaries; the neutral client's runs are bench/per_frame_report.py's),
takes the median of the repetitions of every point, and writes DIR/summary.json, DIR/report.md (key
figures and the ratios ringcast / each peer and ringcast / the raw baseline) and DIR/*.png (gnuplot).

    bench/compare_report.py DIR
"""
import glob
import json
import os
import statistics
import subprocess
import sys

PEERS = ["uws", "node", "nchan"]
LABELS = {
    "ringcast": "ringcast (coalescing on, window 0)",
    "ringcast-single": "ringcast (coalescing off)",
    "ringcast-window": "ringcast (window 10 ms)",
    "uws": "uWebSockets",
    "node": "node ws",
    "nchan": "nchan",
    "rawcast": "raw write loop",
}


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def per_million(seconds, items):
    return seconds / (items / 1e6) if items else None


def load_runs(out):
    runs = []
    for path in sorted(glob.glob(os.path.join(out, "runs", "*.json"))):
        name = os.path.basename(path)[:-5]
        if name.startswith(("perframe-", "rooms5-", "rawframes-")):
            continue  # the neutral client's scenarios: bench/per_frame_report.py
        with open(path) as f:
            d = json.load(f)
        d["_stats_path"] = os.path.join(out, "logs", name + ".stats.json")
        if name.startswith("raw-"):
            _, _, size, rep = name.split("-")
            d["compare"] = {"scenario": "raw", "server": "rawcast", "param": size, "rep": int(rep[1:])}
        runs.append(d)
    return runs


SERVER_CPU = None
CLIENT_CPU = None


def point_figures(d):
    """The figures of one ringcast-load run."""
    c = d.get("compare", {})
    if c.get("scenario") == "raw":
        n = d["connections"] * d["rounds"]
        return {
            "deliveries_per_s": d["writes_per_second"],
            "server_cpu_s_per_million": per_million(d["writer_cpu_s"], n),
            "client_cpu_s_per_million": per_million(d["reader_cpu_s"], n),
            "broadcast_ms_median": d["broadcast_ms_median"],
            "frame_bytes": d["bytes"],
        }
    deliv = d.get("delivery", {})
    cpu = d.get("cpu", {})
    lat = d.get("latency_ms", {})
    conn = d.get("connect", {})
    received = deliv.get("received", 0)
    window = cpu.get("window_s", 0) or 0
    connected = conn.get("connected", 0)
    rss_now = cpu.get("watched_rss_anon_bytes", 0)
    rss0 = c.get("server_rss_anon_start_bytes", 0)
    f = {
        "clean": d.get("clean", False),
        "problems": d.get("problems", ""),
        "connected": connected,
        "received": received,
        "missing": deliv.get("missing", 0),
        "duplicates": deliv.get("duplicates", 0),
        "unexpected_closes": d.get("closes", {}).get("unexpected", 0),
        "publish_failed": d.get("publish", {}).get("failed", 0),
        "memory_bytes_per_connection": (rss_now - rss0) / connected if connected and rss_now else None,
        "loadavg_1m": c.get("loadavg_1m"),
    }
    stats_path = d.get("_stats_path")
    if stats_path and os.path.exists(stats_path):
        try:
            with open(stats_path) as sf:
                st = json.load(sf)
            # Sends to clients: every send completed minus the PONGs and API answers (one each per
            # connection and per publish request) is close enough; report items per send.
            sends = st.get("sends", 0) - connected - d.get("publish", {}).get("sent", 0)
            if sends > 0 and received:
                f["items_per_send"] = received / sends
        except (OSError, ValueError):
            pass
    if received:
        f.update({
            "deliveries_per_s": deliv.get("items_per_second"),
            "p50_ms": lat.get("p50"),
            "p99_ms": lat.get("p99"),
            "p999_ms": lat.get("p999"),
            "max_ms": lat.get("max"),
            # (gopush: one PONG per connection answers the PING sent after the upgrade, not a push)
            "items_per_frame": received / max(1, deliv["frames"] - (connected if d.get("config", {}).get(
                "protocol") == "gopush" else 0)) if deliv.get("frames") else None,
            "server_cpu_s_per_million": per_million(cpu.get("watched_s", 0), received),
            "client_cpu_s_per_million": per_million(cpu.get("client_workers_s", 0), received),
            "server_core_busy": cpu.get("watched_s", 0) / window if window else None,
            "client_core_busy": cpu.get("client_workers_s", 0) / window if window else None,
            # ringcast-load's own CPU (workers and publisher) in % of a core: at 90% or more the point
            # measured the client rather than the server.
            "client_percent": cpu.get("client_percent"),
            "publish_per_s": d.get("publish", {}).get("per_second"),
        })
    # Whole-core busy time from /proc/stat over the same window (softirq and ksoftirqd included,
    # niced background work left out): shows whether a core was really the limit.
    busy = cpu.get("core_busy_s") or []
    if window:
        if SERVER_CPU is not None and SERVER_CPU < len(busy):
            f["server_core_busy_all"] = busy[SERVER_CPU] / window
        if CLIENT_CPU is not None and CLIENT_CPU < len(busy):
            f["client_core_busy_all"] = busy[CLIENT_CPU] / window
    return f


def aggregate(runs):
    groups = {}
    for d in runs:
        c = d.get("compare")
        if not c:
            continue
        groups.setdefault((c["scenario"], c["server"], c["param"]), []).append(point_figures(d))
    points = {}
    for key, figs in groups.items():
        agg = {"reps": len(figs)}
        for k in sorted({k for f in figs for k in f}):
            vals = [f.get(k) for f in figs]
            if all(isinstance(v, bool) for v in vals if v is not None):
                agg[k] = all(v for v in vals if v is not None)
            elif all(isinstance(v, (int, float)) for v in vals if v is not None):
                agg[k] = med(vals)
                if k in ("missing", "duplicates", "unexpected_closes", "publish_failed"):
                    agg[k + "_total"] = sum(v for v in vals if v is not None)
            else:
                agg[k] = "; ".join(sorted({str(v) for v in vals if v}))
        points[key] = agg
    return points


def fmt(v, digits=3):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.0f}k"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def params(points, scenario):
    return sorted({k[2] for k in points if k[0] == scenario}, key=lambda p: float(p))


def servers_in(points, scenario):
    order = ["ringcast", "ringcast-single", "ringcast-window", "uws", "node", "nchan", "rawcast"]
    found = {k[1] for k in points if k[0] == scenario}
    return [s for s in order if s in found] + sorted(found - set(order))


def label(s):
    return LABELS.get(s, s)


def size_histogram(plots, colors, path, sizes, cols, points, metric, png, title, ylabel, key):
    """One clustered bar chart over item sizes (a column per server, the raw loop included): writes its
    data file and appends the gnuplot script to `plots`."""
    with open(path, "w") as f:
        f.write("# size " + " ".join(cols) + "\n")
        for p in sizes:
            row = []
            for s in cols:
                a = points.get(("raw" if s == "rawcast" else "size", s, p))
                v = a.get(metric) if a else None
                row.append(str(v) if v else "NaN")
            f.write(f"{p}B " + " ".join(row) + "\n")
    series = ", ".join(
        f"'{path}' using {i + 2}:xtic(1) title '{label(s)}' lc rgb '{colors[i % len(colors)]}'"
        for i, s in enumerate(cols))
    plots.append((png, f"""
set title '{title}'
set xlabel 'item size'
set ylabel '{ylabel}'
set logscale y
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key {key} box opaque font ',9'
set grid ytics
plot {series}
"""))


def write_plots(out, points, host):
    conns = host.get("connections", 19000)
    plots = []
    colors = ["#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#ff7f0e", "#7f7f7f", "#8c564b", "#17becf"]
    # Latency vs offered deliveries/s (one room of everyone).
    srv = servers_in(points, "latency")
    if srv:
        lines = []
        for i, s in enumerate(srv):
            path = os.path.join(out, "plots", f"latency-{s}.dat")
            with open(path, "w") as f:
                f.write("# offered_deliveries_per_s p50_ms p99_ms p999_ms\n")
                for p in params(points, "latency"):
                    a = points.get(("latency", s, p))
                    if a and a.get("p99_ms") is not None:
                        f.write(f"{float(p) * conns} {a['p50_ms']} {a['p99_ms']} {a['p999_ms']}\n")
            color = colors[i % len(colors)]
            lines.append(f"'{path}' using 1:3 with linespoints lw 2 pt 7 lc rgb '{color}' title '{label(s)} p99'")
            lines.append(f"'{path}' using 1:2 with linespoints lw 1 dt 2 pt 6 lc rgb '{color}' title '{label(s)} p50'")
        plots.append(("latency_vs_rate.png", f"""
set title 'Publish -> receive latency, one room of {conns} connections, 64 B items (1 server core)'
set xlabel 'offered deliveries/s (publish rate x {conns})'
set ylabel 'latency (ms)'
set logscale y
set logscale x
set key top left box opaque font ',9'
set grid
plot {', '.join(lines)}
"""))
    # Deliveries/s at saturation vs message size (plus the raw write loop).
    srv = servers_in(points, "size")
    if srv:
        sizes = params(points, "size")
        path = os.path.join(out, "plots", "throughput.dat")
        cols = srv + (["rawcast"] if any(("raw", "rawcast", p) in points for p in sizes) else [])
        size_histogram(plots, colors, path, sizes, cols, points, "deliveries_per_s", "throughput_vs_size.png",
                       f"Deliveries/s at saturation, one room of {conns} connections (1 server core)",
                       "deliveries/s (log)", "top right")
        size_histogram(plots, colors, os.path.join(out, "plots", "cpu.dat"), sizes, cols, points,
                       "server_cpu_s_per_million", "cpu_per_million.png",
                       f"Server CPU-seconds per million deliveries at saturation, one room of {conns} connections",
                       "CPU-s per 10^6 deliveries (log)", "top left")
    for name, body in plots:
        script = os.path.join(out, "plots", name.replace(".png", ".gp"))
        with open(script, "w") as f:
            f.write(f"set terminal pngcairo size 1100,650 font 'DejaVu Sans,10'\nset output '{os.path.join(out, name)}'\n")
            f.write(body)
        try:
            subprocess.run(["gnuplot", script], check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"compare_report: gnuplot failed for {name}: {e}", file=sys.stderr)
    return [p[0] for p in plots]


def main():
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "plots"), exist_ok=True)
    host = {}
    if os.path.exists(os.path.join(out, "host.json")):
        with open(os.path.join(out, "host.json")) as f:
            host = json.load(f)
    global SERVER_CPU, CLIENT_CPU
    SERVER_CPU = host.get("server_cpu")
    CLIENT_CPU = host.get("client_cpu")
    points = aggregate(load_runs(out))
    conns = host.get("connections", 19000)
    nrooms = host.get("rooms", 1000)
    rooms_desc = f"{nrooms} rooms of {max(1, conns // nrooms)}"
    ours = [s for s in ["ringcast", "ringcast-single"] if any(k[1] == s for k in points)]
    extras = sorted({k[1] for k in points} - {"ringcast", "ringcast-single", "ringcast-window", "uws", "node", "nchan",
                                               "rawcast"})
    md = []
    md.append("# ringcast compared with uWebSockets, node `ws`, nchan and the raw TCP write loop\n")
    md.append(f"{host.get('date', '')} · {host.get('host', {}).get('cpus', '?')} cores · kernel "
              f"{host.get('host', {}).get('kernel', '?')} · git {host.get('git', '?')} · "
              f"node {host.get('versions', {}).get('node', '?')} + ws {host.get('versions', {}).get('ws', '?')} · "
              f"nginx {host.get('versions', {}).get('nginx', '?')} + nchan {host.get('versions', {}).get('nchan', '?')}\n")
    md.append(f"Every server is pinned to CPU {host.get('server_cpu', '?')} (one core: ringcast `--threads 1`, "
              f"nginx `worker_processes 1`, node's one thread); ringcast-load (its connection workers and "
              f"its publisher) to CPU {host.get('client_cpu', '?')}; rawcast's writers to the server core "
              f"and its readers to the client core. {conns} connections. Each figure is the median of "
              f"{host.get('reps', '?')} runs, servers interleaved. CPU is utime+stime from /proc over the "
              f"measured window (end of hold → last delivery). `bench/compare.sh` made this; raw runs are in "
              f"`runs/`.\n")
    if host.get("note"):
        md.append(f"**Note:** {host['note']}\n")
    md.append("Ratios are ringcast ÷ peer: above 1 is better for ringcast for deliveries/s, below 1 is better "
              "for latency, CPU and memory.\n")

    def peer_cols(scenario, metric, fixed_param=None, base="ringcast"):
        row = []
        for peer in PEERS + (["rawcast"] if scenario == "size" else []):
            ps = [fixed_param] if fixed_param else params(points, scenario)
            vals = []
            for p in ps:
                a = points.get((scenario, base, p))
                b = points.get(("raw" if peer == "rawcast" else scenario, peer, p))
                vals.append(ratio(a and a.get(metric), b and b.get(metric)))
            row.append(vals)
        return row

    # Ratios table.
    md.append("## Ratios\n")
    md.append("| metric | ringcast variant | ÷ uWebSockets | ÷ node ws | ÷ nchan | ÷ raw write loop |")
    md.append("| --- | --- | --- | --- | --- | --- |")
    for size in params(points, "size"):
        for s in ours + extras:
            r = []
            for peer in ["uws", "node", "nchan", "rawcast"]:
                a = points.get(("size", s, size))
                b = points.get(("raw" if peer == "rawcast" else "size", peer, size))
                r.append(ratio(a and a.get("deliveries_per_s"), b and b.get("deliveries_per_s")))
            md.append(f"| deliveries/s at saturation, 1 room, {size} B | {label(s)} | " +
                      " | ".join(fmt(v) + "×" if v else "–" for v in r) + " |")
    for size in params(points, "size"):
        for s in ours + extras:
            r = []
            for peer in ["uws", "node", "nchan", "rawcast"]:
                a = points.get(("size", s, size))
                b = points.get(("raw" if peer == "rawcast" else "size", peer, size))
                r.append(ratio(a and a.get("server_cpu_s_per_million"), b and b.get("server_cpu_s_per_million")))
            md.append(f"| server CPU-s per 10⁶ deliveries at saturation, {size} B | {label(s)} | " +
                      " | ".join(fmt(v) + "×" if v else "–" for v in r) + " |")
    for p in params(points, "latency"):
        for s in ours + extras:
            r = []
            for peer in ["uws", "node", "nchan"]:
                a = points.get(("latency", s, p))
                b = points.get(("latency", peer, p))
                r.append(ratio(a and a.get("p99_ms"), b and b.get("p99_ms")))
            md.append(f"| p99 latency, 1 room, {p} msg/s ({fmt(float(p) * conns)} deliveries/s) | {label(s)} | " +
                      " | ".join(fmt(v) + "×" if v else "–" for v in r) + " | |")
    for p in params(points, "rooms"):
        for s in ours + extras:
            r = []
            for peer in ["uws", "node", "nchan"]:
                a = points.get(("rooms", s, p))
                b = points.get(("rooms", peer, p))
                r.append(ratio(a and a.get("p99_ms"), b and b.get("p99_ms")))
            md.append(f"| p99 latency, {rooms_desc}, {p} msg/s | "
                      f"{label(s)} | " + " | ".join(fmt(v) + "×" if v else "–" for v in r) + " | |")
    a = points.get(("idle", "ringcast", "0"))
    r = []
    for peer in ["uws", "node", "nchan"]:
        b = points.get(("idle", peer, "0"))
        r.append(ratio(a and a.get("memory_bytes_per_connection"), b and b.get("memory_bytes_per_connection")))
    md.append(f"| user memory per idle connection | {label('ringcast')} | " +
              " | ".join(fmt(v) + "×" if v else "–" for v in r) + " | |")
    md.append("")

    # The targets of issue 4, checked against the medians above.
    md.append("## Targets\n")
    md.append("| target | measured | met |")
    md.append("| --- | --- | --- |")

    def verdict(ok):
        return "–" if ok is None else ("yes" if ok else "**no**")

    for size in params(points, "size"):
        a = points.get(("size", "ringcast", size))
        b = points.get(("size", "node", size))
        r = ratio(a and a.get("deliveries_per_s"), b and b.get("deliveries_per_s"))
        md.append(f"| ≥ 3× node ws deliveries/s, one room of {conns}, {size} B | {fmt(r)}× "
                  f"({fmt(a and a.get('deliveries_per_s'))} vs {fmt(b and b.get('deliveries_per_s'))}) | "
                  f"{verdict(None if r is None else r >= 3)} |")
    for size in params(points, "size"):
        raw = points.get(("raw", "rawcast", size))
        for s, goal, text in (("ringcast-single", 0.8, "≥ 0.8× the raw write loop, coalescing off"),
                              ("ringcast", 1.0, "well above the raw write loop, coalescing on")):
            a = points.get(("size", s, size))
            r = ratio(a and a.get("deliveries_per_s"), raw and raw.get("deliveries_per_s"))
            md.append(f"| {text}, {size} B | {fmt(r)}× | {verdict(None if r is None else r >= goal)} |")
    rate_1k = [p for p in params(points, "rooms") if abs(float(p) - 1000) < 1]
    for p in rate_1k:
        for s in ours:
            a = points.get(("rooms", s, p))
            v = a and a.get("p99_ms")
            md.append(f"| p99 ≤ 5 ms at {conns} connections and 1k msg/s ({rooms_desc}, {label(s)}) | "
                      f"{fmt(v)} ms (p50 {fmt(a and a.get('p50_ms'))}, p99.9 {fmt(a and a.get('p999_ms'))}) | "
                      f"{verdict(None if v is None else v <= 5)} |")
    if not rate_1k:
        md.append("| p99 ≤ 5 ms at 1k msg/s | not measured (no rooms point at 1000 msg/s) | – |")
    md.append("")
    md.append(f"The 1k msg/s point is the rooms scenario: {conns} connections in {rooms_desc}, 1,000 items/s "
              f"published in all (each to one room). One room of all {conns} at 1,000 items/s would be "
              f"{fmt(1000.0 * conns)} deliveries/s, beyond what one core can write on this machine (see the "
              f"single-room tables for the latency one room of {conns} gets at 1-40 items/s).\n")

    # Key figures per scenario.
    def table(scenario, title, param_name, columns):
        ps = params(points, scenario)
        if not ps:
            return
        md.append(f"## {title}\n")
        md.append(f"| {param_name} | server | " + " | ".join(c[0] for c in columns) + " |")
        md.append("| --- | --- | " + " | ".join("---" for _ in columns) + " |")
        for p in ps:
            for s in servers_in(points, scenario):
                a = points.get((scenario, s, p))
                if not a:
                    continue
                md.append(f"| {p} | {label(s)} | " + " | ".join(c[1](a) for c in columns) + " |")
        md.append("")

    losses = lambda a: (f"{int(a.get('missing_total', 0))} missing, {int(a.get('duplicates_total', 0))} dup, "
                        f"{int(a.get('unexpected_closes_total', 0))} closed, {int(a.get('publish_failed_total', 0))} refused")
    common = [
        ("deliveries/s", lambda a: fmt(a.get("deliveries_per_s"))),
        ("p50 ms", lambda a: fmt(a.get("p50_ms"))),
        ("p99 ms", lambda a: fmt(a.get("p99_ms"))),
        ("p99.9 ms", lambda a: fmt(a.get("p999_ms"))),
        ("server CPU-s/10⁶", lambda a: fmt(a.get("server_cpu_s_per_million"))),
        ("client CPU-s/10⁶", lambda a: fmt(a.get("client_cpu_s_per_million"))),
        ("server core busy", lambda a: fmt(a.get("server_core_busy"), 2)),
        ("client core busy", lambda a: fmt(a.get("client_core_busy"), 2) +
         (" (client-bound)" if (a.get("client_percent") or 0) >= 90 else "")),
        ("publish/s reached", lambda a: fmt(a.get("publish_per_s"))),
        ("items/frame", lambda a: fmt(a.get("items_per_frame"), 3)),
        ("items/send", lambda a: fmt(a.get("items_per_send"), 3)),
        ("losses (all reps)", losses),
    ]
    table("latency", f"Fan-out: one room of {conns}, 64 B items, fixed publish rates", "msg/s", common)
    table("size", f"Fan-out at saturation: one room of {conns}, offered load above capacity", "item bytes", common)
    if params(points, "raw"):
        md.append("Raw write loop (ringcast-rawcast: the frame ringcast sends for one item, written with "
                  "`write()` to every connection, 20 rounds per run):\n")
        md.append("| item bytes | frame bytes | writes/s | one round to all (ms) | writer CPU-s/10⁶ | reader CPU-s/10⁶ |")
        md.append("| --- | --- | --- | --- | --- | --- |")
        for p in params(points, "raw"):
            a = points[("raw", "rawcast", p)]
            md.append(f"| {p} | {fmt(a.get('frame_bytes'))} | {fmt(a.get('deliveries_per_s'))} | "
                      f"{fmt(a.get('broadcast_ms_median'))} | {fmt(a.get('server_cpu_s_per_million'))} | "
                      f"{fmt(a.get('client_cpu_s_per_million'))} |")
        md.append("")
    table("rooms", f"Many rooms: {conns} connections in {rooms_desc}", "msg/s (all rooms)", common)
    table("burst", f"Publish burst into one room of {conns} (items published as fast as the API takes them)",
          "items", common)
    table("idle", f"Idle: {conns} connections, nothing published", "-", [
        ("user memory per connection (bytes)", lambda a: fmt(a.get("memory_bytes_per_connection"))),
        ("connected", lambda a: fmt(a.get("connected"))),
    ])

    pngs = write_plots(out, points, host)
    if pngs:
        md.append("## Plots\n")
        for p in pngs:
            md.append(f"![{p}]({p})\n")
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    summary = {"host": host, "points": [
        {"scenario": k[0], "server": k[1], "param": k[2], **v} for k, v in sorted(points.items())]}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("\n".join(md))


if __name__ == "__main__":
    main()
