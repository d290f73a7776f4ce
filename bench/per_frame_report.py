#!/usr/bin/python3
"""bench/compare.sh's report of the scenarios driven by the neutral client (ringcast-epoll-load):
perframe (one room, rising rates, ringcast with and without coalescing and uWebSockets; the raw write
loop one write per frame and merged) and rooms5 (every connection in 5 rooms, every item to all 5).
Reads DIR/runs/{perframe,rooms5,rawframes}-*.json, takes the median of the repetitions of every point,
and writes DIR/NAME.md and the figures as JSON (NAME.json; summary.json when NAME is report).

    bench/per_frame_report.py DIR [NAME]

A point is saturated when the run lost anything or was not clean, when the publishes were answered for
under 95% of the offered rate, or when deliveries/s fell under 90% of what was offered (the window runs
from the first publish to the last delivery, so a server that falls behind stretches it). The
"unsaturated" figure of a server is its best median deliveries/s over the rates at which most
repetitions kept up. A point whose client used 90% or more of its core is marked client-bound: there
the client, not the server, was measured.
"""
import glob
import json
import os
import statistics
import sys

LABELS = {
    "ringcast": "ringcast, coalescing on (default)",
    "ringcast-single": "ringcast, `--merge-batch-items-max 1`",
    "uws": "uWebSockets",
    "node": "node ws",
    "nchan": "nchan",
}
ORDER = ["ringcast", "ringcast-single", "uws", "node", "nchan"]
CLIENT_BOUND_PERCENT = 90


def runnable(busy, wait):
    return (busy or 0) + (wait or 0)


def offered_deliveries(d):
    return d.get("rate_offered", 0) * len(d.get("publish_rooms", [1])) * d.get("connections", 0)


def saturated(d):
    """The rule in the module's docstring, for one run (bench/compare.sh imports it)."""
    if not d.get("clean"):
        return True
    if d["publish"]["rate_reached"] < 0.95 * d["rate_offered"]:
        return True
    return d["delivery"]["per_second"] < 0.9 * offered_deliveries(d)


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=3):
    if v is None:
        return "–"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.{digits}g}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.{digits}g}k"
    return f"{v:.{digits}g}"


def label(s):
    return LABELS.get(s, s)


def load(out):
    neutral, raw = [], []
    for path in sorted(glob.glob(os.path.join(out, "runs", "*.json"))):
        name = os.path.basename(path)[:-5]
        if not name.startswith(("perframe-", "rooms5-", "rawframes-")):
            continue
        with open(path) as f:
            d = json.load(f)
        if name.startswith("rawframes-"):
            _, mode, size, rep = name.split("-")
            d["_key"] = (mode, int(size))
            raw.append(d)
        elif "compare" in d:
            neutral.append(d)
    return neutral, raw


def aggregate(neutral):
    groups = {}
    for d in neutral:
        c = d["compare"]
        groups.setdefault((c["scenario"], c["server"], c["size"], c["rate"]), []).append(d)
    points = {}
    for key, runs in groups.items():
        ok = [d for d in runs if "delivery" in d]
        kept = sum(1 for d in runs if not saturated(d))
        points[key] = {
            "reps": len(runs),
            "kept_up": kept,
            "unsaturated": kept * 2 > len(runs),
            "deliveries_per_s": med([d["delivery"]["per_second"] for d in ok]),
            "deliveries_per_s_all": [d["delivery"]["per_second"] for d in ok],
            "offered_deliveries_per_s": med([offered_deliveries(d) for d in ok]),
            "p50_ms": med([d["latency_ms"]["p50"] for d in ok]),
            "p99_ms": med([d["latency_ms"]["p99"] for d in ok]),
            "items_per_message": med([d["delivery"]["items_per_message"] for d in ok]),
            "publish_rate_reached": med([d["publish"]["rate_reached"] for d in ok]),
            "server_core_percent": med([d["cpu"]["watched_percent"] for d in ok]),
            # Deliveries per CPU-second of the server: what it would deliver with a whole core to itself.
            # On a shared machine the server gets what the scheduler gives it (other sessions' work on
            # its core takes a share), which deliveries/s reflects and this does not.
            "deliveries_per_server_cpu_s": med([d["delivery"]["received"] / d["cpu"]["watched_s"]
                                                for d in ok if d["cpu"]["watched_s"] > 0]),
            "client_core_percent": med([d["cpu"]["client_percent"] for d in ok]),
            # What the client paid per delivery, and in how many pieces it read them: a stream read in
            # smaller pieces costs the client more per delivery (a read's syscall, epoll turn and ACK),
            # the same bytes or not. Reads are counted from the client's first delivery on.
            "client_cpu_us_per_delivery": med([d["cpu"]["client_s"] / d["delivery"]["received"] * 1e6
                                               for d in ok if d["delivery"]["received"] > 0]),
            "deliveries_per_client_read": med([d["delivery"]["received"] / d["delivery"]["reads"]
                                               for d in ok if d["delivery"].get("reads")]),
            # Runnable but waiting for a CPU, in % of the window (/proc/PID/task/*/schedstat): the share of
            # its core that other work took from the server (or the client).
            "server_wait_percent": med([d["cpu"].get("watched_wait_percent") for d in ok]),
            "client_wait_percent": med([d["cpu"].get("client_wait_percent") for d in ok]),
            "missing": sum(d["delivery"]["missing"] for d in ok),
            "problems": sorted({d.get("problem", "") for d in runs if not d.get("clean")} - {""}),
            "dropped": sorted({d["compare"].get("dropped", "") for d in runs} - {""}),
        }
        p = points[key]
        # Busy or waiting for its core: runnable (nearly) all the time, so that process set the pace, at
        # the share of the core it got. For the client that makes the point client-bound; for the server
        # it is what "at its limit" means on a shared machine.
        # (A client that polls without sleeping, --wait-ms 0, is busy by construction: never client-bound.)
        polls = all(d.get("wait_ms") == 0 for d in ok) and bool(ok)
        p["client_bound"] = not polls and runnable(p["client_core_percent"],
                                                   p["client_wait_percent"]) >= CLIENT_BOUND_PERCENT
        p["server_runnable_percent"] = runnable(p["server_core_percent"], p["server_wait_percent"])
    return points


def best(points, scenario, server, size):
    """(best unsaturated point's rate, point), first saturated rate, max deliveries/s at any rate, and
    the best deliveries per server CPU-second over the points where the server was at its limit
    (runnable for 90% of the window or more) and the client was not."""
    mine = sorted((k[3], v) for k, v in points.items() if k[:3] == (scenario, server, size))
    kept = [(r, v) for r, v in mine if v["unsaturated"] and v["deliveries_per_s"] is not None]
    top = max(kept, key=lambda rv: rv[1]["deliveries_per_s"]) if kept else (None, None)
    first_sat = next((r for r, v in mine if not v["unsaturated"]), None)
    any_max = max((v["deliveries_per_s"] or 0 for _, v in mine), default=None)
    busy = [v["deliveries_per_server_cpu_s"] for _, v in mine
            if v["server_runnable_percent"] >= 90 and not v["client_bound"] and v["deliveries_per_server_cpu_s"]]
    per_cpu = max(busy) if busy else None
    return top, first_sat, any_max, per_cpu


def servers_in(points, scenario):
    found = {k[1] for k in points if k[0] == scenario}
    return [s for s in ORDER if s in found] + sorted(found - set(ORDER))


def sizes_in(points, scenario):
    return sorted({k[2] for k in points if k[0] == scenario})


def core_text(busy, wait):
    """A core's use: busy %, and the % it waited for the core when there is any to speak of."""
    if busy is None:
        return "–"
    return f"{fmt(busy)}%" + (f" (+{fmt(wait, 2)}% waiting)" if wait is not None and wait >= 5 else "")


def rate_text(r):
    return f"{r:g}" if r is not None else "–"


def main():
    out = sys.argv[1]
    name = sys.argv[2] if len(sys.argv) > 2 else "per-frame"
    host = {}
    if os.path.exists(os.path.join(out, "host.json")):
        with open(os.path.join(out, "host.json")) as f:
            host = json.load(f)
    neutral, raw = load(out)
    points = aggregate(neutral)
    conns = host.get("connections", 19000)
    md = ["# Per-frame sends: ringcast with and without coalescing, uWebSockets, the raw write loop\n"]
    md.append(f"{host.get('date', '')} · {host.get('host', {}).get('cpus', '?')} cores · kernel "
              f"{host.get('host', {}).get('kernel', '?')} · tcp_rmem {host.get('host', {}).get('tcp_rmem', '?')} "
              f"· ringcast git {host.get('git', '?')} "
              f"(`{host.get('git_commit', '?')}`) · uWebSockets {host.get('uws', '?')}\n")
    md.append(f"Measured with the neutral client, ringcast-epoll-load (`tools/epoll_load`: plain epoll, one "
              f"thread per process, no code shared with ringcast's engine; every item of a merged PUSH frame "
              f"counted as one delivery). Every server pinned to CPU {host.get('server_cpu', '?')} (one core: "
              f"ringcast `--threads 1`, uWS is one thread); the client (its worker process, publisher and "
              f"parent) to CPU {host.get('client_cpu', '?')}. {conns} connections, each publish point "
              f"{host.get('perframe_seconds', '?')} s at a fixed rate, {host.get('reps', '?')} repetitions "
              f"with the servers interleaved; figures are medians. Deliveries/s = items received ÷ (last "
              f"delivery − first delivery). CPU is utime+stime from /proc over the measured window, in % of "
              f"one core: the server's and the client's own; \"+N% waiting\": the time the process was "
              f"runnable but waited for its core (/proc schedstat), i.e. what other work on the machine took "
              f"from it. A point is **saturated** when the publishes "
              f"were answered for under 95% of the offered rate, deliveries/s fell under 90% of the offered, "
              f"or anything was lost; a server's rates stop rising in a repetition after two saturated "
              f"points in a row (on a shared machine one may be a moment of starvation). **client-bound**: the client was busy or waiting for its core ≥ "
              f"{CLIENT_BOUND_PERCENT}% of the window, so the point measured the client, not the server. "
              f"Deliveries per server CPU-second: deliveries ÷ the server's CPU time, what it did with the "
              f"core it got; the summary takes the best over the points where the server was at its limit "
              f"(busy or waiting ≥ 90%) and the client was not. Client CPU-µs per delivery: the client's "
              f"CPU time ÷ deliveries; deliveries per client read: deliveries ÷ the reads its workers made "
              f"from their first delivery on. A stream read in smaller pieces costs the client more per "
              f"delivery (each read is a syscall, an epoll turn and an ACK), whatever the server spent.\n")
    if host.get("client_wait_ms") == 0:
        md.append("**The client polled without sleeping** (`--client-wait-ms 0`: its workers' epoll_wait "
                  "timeout was 0), so no send of a server had to wake it; its CPU is 100% by construction "
                  "and no point is marked client-bound. A diagnostic of what waking the client costs the "
                  "server on this VM, not the standard method.\n")
    if host.get("command"):
        md.append(f"Command: `{host['command']}`\n")
    if host.get("note"):
        md.append(f"**Note:** {host['note']}\n")

    summary = {"host": host, "best": [], "ratios": [], "points": [], "raw": []}

    for scenario, title in [("perframe", f"one room of {conns}"),
                            ("rooms5", f"{conns} connections, each in 5 rooms, every item published to all 5")]:
        sizes = sizes_in(points, scenario)
        if not sizes:
            continue
        servers = servers_in(points, scenario)
        md.append(f"## {'Per-frame' if scenario == 'perframe' else '5 rooms'}: {title}\n")
        if scenario == "rooms5":
            md.append("Each item is published to each of the 5 rooms (5 publishes, so each connection receives "
                      "it 5 times and each is a delivery); items/s below are per room. uWebSockets here is "
                      "`bench/peers/uws_rooms.cpp`: the peer's settings with every connection subscribed to 5 "
                      "topics (the shared peer has one).\n")
        md.append("| size | server | unsaturated deliveries/s | at items/s | p50 ms | p99 ms | server core | "
                  "client core | saturated from items/s | max deliveries/s (any rate) | deliveries per server "
                  "CPU-second (server at its limit) |")
        md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        bests, per_cpus = {}, {}
        for size in sizes:
            for s in servers:
                (rate, p), first_sat, any_max, per_cpu = best(points, scenario, s, size)
                bests[(size, s)] = p and p["deliveries_per_s"]
                per_cpus[(size, s)] = per_cpu
                note = " (client-bound)" if p and p["client_bound"] else ""
                md.append(f"| {size} B | {label(s)} | {fmt(p and p['deliveries_per_s'])}{note} | {rate_text(rate)} | "
                          f"{fmt(p and p['p50_ms'])} | {fmt(p and p['p99_ms'])} | "
                          f"{core_text(p and p['server_core_percent'], p and p['server_wait_percent'])} | "
                          f"{core_text(p and p['client_core_percent'], p and p['client_wait_percent'])} | "
                          f"{rate_text(first_sat)} | {fmt(any_max)} | {fmt(per_cpu)} |")
                summary["best"].append({"scenario": scenario, "size": size, "server": s, "rate": rate,
                                        "unsaturated_deliveries_per_s": p and p["deliveries_per_s"],
                                        "p50_ms": p and p["p50_ms"], "client_bound": bool(p and p["client_bound"]),
                                        "server_core_percent": p and p["server_core_percent"],
                                        "client_core_percent": p and p["client_core_percent"],
                                        "saturated_from": first_sat, "max_deliveries_per_s": any_max,
                                        "deliveries_per_server_cpu_s_at_limit": per_cpu})
        md.append("")
        if "uws" in servers:
            md.append("| size | ÷ uWebSockets | unsaturated deliveries/s | deliveries per server CPU-second "
                      "(server at its limit) | issue 20's target (unsaturated deliveries/s) |")
            md.append("| --- | --- | --- | --- | --- |")
            for size in sizes:
                for s in [x for x in servers if x != "uws"]:
                    a, b = bests.get((size, s)), bests.get((size, "uws"))
                    r = a / b if a and b else None
                    ca, cb = per_cpus.get((size, s)), per_cpus.get((size, "uws"))
                    rc = ca / cb if ca and cb else None
                    target = "≥ 1.2×" if s == "ringcast-single" and scenario == "perframe" else ""
                    met = "" if not target or r is None else (" (met)" if r >= 1.2 else " (**not met**)")
                    md.append(f"| {size} B | {label(s)} | {fmt(r)}× | {fmt(rc)}× | {target}{met} |")
                    summary["ratios"].append({"scenario": scenario, "size": size, "server": s, "over": "uws",
                                              "unsaturated_deliveries_per_s": r,
                                              "deliveries_per_server_cpu_s_at_limit": rc})
            md.append("")
        md.append("Every point (medians; kept up = repetitions not saturated):\n")
        md.append("| size | items/s | server | deliveries/s | of offered | p50 ms | p99 ms | items/message | "
                  "publish/s reached | server core | client core | client CPU-µs per delivery | "
                  "deliveries per client read | deliveries per server CPU-s | kept up | note |")
        md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for key in sorted((k for k in points if k[0] == scenario),
                          key=lambda k: (k[2], k[3], ORDER.index(k[1]) if k[1] in ORDER else 99)):
            p = points[key]
            notes = []
            if not p["unsaturated"]:
                notes.append("saturated")
            if p["client_bound"]:
                notes.append("client-bound")
            if p["missing"]:
                notes.append(f"{p['missing']} missing")
            notes += p["dropped"] + [x[:80] for x in p["problems"]]
            frac = (p["deliveries_per_s"] / p["offered_deliveries_per_s"]
                    if p["deliveries_per_s"] and p["offered_deliveries_per_s"] else None)
            md.append(f"| {key[2]} B | {key[3]:g} | {label(key[1])} | {fmt(p['deliveries_per_s'])} | {fmt(frac, 2)} | "
                      f"{fmt(p['p50_ms'])} | {fmt(p['p99_ms'])} | {fmt(p['items_per_message'])} | "
                      f"{fmt(p['publish_rate_reached'])} | "
                      f"{core_text(p['server_core_percent'], p['server_wait_percent'])} | "
                      f"{core_text(p['client_core_percent'], p['client_wait_percent'])} | "
                      f"{fmt(p['client_cpu_us_per_delivery'])} | {fmt(p['deliveries_per_client_read'])} | "
                      f"{fmt(p['deliveries_per_server_cpu_s'])} | "
                      f"{p['kept_up']}/{p['reps']} | {'; '.join(notes)} |")
            summary["points"].append({"scenario": key[0], "server": key[1], "size": key[2], "rate": key[3],
                                      **{k: v for k, v in p.items()}})
        md.append("")

    if raw:
        groups = {}
        for d in raw:
            groups.setdefault(d["_key"], []).append(d)
        md.append(f"## The raw write loop: {host.get('raw_frames', '?')} frames per connection per round\n")
        md.append("ringcast-rawcast writes the bytes of ringcast's frame for one item of each size to every "
                  "connection, frame after frame, one write per frame (what a server that sends every frame "
                  "on its own does), and merged: a connection's frames queued and written with one write (the "
                  "physical limit of batching per loop iteration). Writers on the server core, readers on the "
                  "client core; frames/s over the rounds (median of the repetitions).\n")
        md.append("| size | writes | frame bytes | frames/s | writer CPU-s per 10⁶ frames | reader CPU-s per 10⁶ frames |")
        md.append("| --- | --- | --- | --- | --- | --- |")
        for (mode, size) in sorted(groups, key=lambda k: (k[1], k[0] != "perframe")):
            runs = groups[(mode, size)]
            n = [d["connections"] * d["frames"] * d["rounds"] for d in runs]
            fps = med([d["frames_per_second"] for d in runs])
            wcpu = med([d["writer_cpu_s"] / (x / 1e6) for d, x in zip(runs, n)])
            rcpu = med([d["reader_cpu_s"] / (x / 1e6) for d, x in zip(runs, n)])
            md.append(f"| {size} B | {'one per frame' if mode == 'perframe' else 'one per connection (merged)'} | "
                      f"{runs[0]['bytes']} | {fmt(fps)} | {fmt(wcpu)} | {fmt(rcpu)} |")
            summary["raw"].append({"size": size, "mode": mode, "frame_bytes": runs[0]["bytes"],
                                   "frames": runs[0]["frames"], "frames_per_second": fps,
                                   "writer_cpu_s_per_million": wcpu, "reader_cpu_s_per_million": rcpu,
                                   "reps": len(runs)})
        md.append("")

    with open(os.path.join(out, name + ".md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(out, ("summary" if name == "report" else name) + ".json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("\n".join(md))


if __name__ == "__main__":
    main()
