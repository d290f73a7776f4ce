#!/usr/bin/python3
"""bench/tls.sh's report: reads DIR/runs/*.json (ringcast-load summaries with a "bench" section, and
bench_tls_memory's), takes the median of the repetitions of every point, and writes DIR/summary.json
and DIR/report.md: throughput (deliveries/s, server CPU per delivery, client CPU; TLS / plaintext and
ringcast / uWS ratios), handshakes (connect storm and reconnect churn), memory per idle connection
(and what OpenSSL alone keeps, by allocation site), and the scale run.

    bench/tls_report.py DIR
"""
import glob
import json
import os
import sys

from load_runs import load_figures, med, medians

SERVERS = ["ringcast-tls", "ringcast-plain", "uws-ssl", "uws-ssl-lowmem", "uws-plain"]
LABELS = {
    "ringcast-tls": "ringcast TLS",
    "ringcast-plain": "ringcast plain",
    "uws-ssl": "uWS SSLApp",
    "uws-ssl-lowmem": "uWS SSLApp, low memory",
    "uws-plain": "uWS plain",
}


def ratio(a, b):
    return a / b if a is not None and b else None


def num(v, fmt):
    return "-" if v is None else fmt % v


def server_order(name):
    return SERVERS.index(name) if name in SERVERS else 99


def throughput_figures(d):
    delivery = d.get("delivery", {})
    return {
        **load_figures(d),
        "missing": delivery.get("missing"),
        "duplicates": delivery.get("duplicates"),
        "connect_per_s": d.get("connect", {}).get("per_second"),
        "clean": bool(d.get("clean")),
        "problems": d.get("problems", "") or d["bench"].get("dropped", ""),
    }


def throughput(runs, rate_connections):
    points = {}
    for d in runs:
        b = d["bench"]
        points.setdefault((b["size"], b["rate"], b["server"]), []).append(throughput_figures(d))
    summary = []
    for (size, rate, server), fs in sorted(points.items(), key=lambda kv: (kv[0][0], kv[0][1], server_order(kv[0][2]))):
        m = medians(fs)
        offered = rate * rate_connections
        m.update({"size": size, "rate": rate, "server": server, "offered_deliveries_per_s": offered,
                  "reps": len(fs), "clean_reps": sum(f["clean"] for f in fs),
                  "problems": [f["problems"] for f in fs if f["problems"]],
                  "kept_up": m["deliveries_per_s"] is not None and m["deliveries_per_s"] >= 0.9 * offered
                  and (m["publish_per_s"] or 0) >= 0.95 * rate and not m["missing"],
                  "each": {k: [f[k] for f in fs] for k in ("deliveries_per_s", "server_cpu_s_per_million",
                                                           "client_cpu_percent")}})
        summary.append(m)
    by = {(p["size"], p["rate"], p["server"]): p for p in summary}
    ratios = []
    for size, rate in sorted({(p["size"], p["rate"]) for p in summary}):
        def get(server, key):
            p = by.get((size, rate, server))
            return p.get(key) if p else None
        r = {"size": size, "rate": rate}
        for name, a, b in (("ringcast_tls_vs_plain", "ringcast-tls", "ringcast-plain"),
                           ("uws_ssl_vs_plain", "uws-ssl", "uws-plain"),
                           ("ringcast_tls_vs_uws_ssl", "ringcast-tls", "uws-ssl")):
            r[name + "_deliveries"] = ratio(get(a, "deliveries_per_s"), get(b, "deliveries_per_s"))
            r[name + "_cpu_per_delivery"] = ratio(get(a, "server_cpu_s_per_million"), get(b, "server_cpu_s_per_million"))
        ratios.append(r)
    # Capacity: the highest median deliveries/s a server reached at any rate, per size.
    capacity = {}
    for p in summary:
        key = "%s/%s" % (p["server"], p["size"])
        if p["deliveries_per_s"] is not None and p["deliveries_per_s"] > capacity.get(key, {}).get("deliveries_per_s", -1):
            capacity[key] = {"server": p["server"], "size": p["size"], "deliveries_per_s": p["deliveries_per_s"],
                             "at_rate": p["rate"], "server_cpu_s_per_million": p["server_cpu_s_per_million"],
                             "client_cpu_percent": p["client_cpu_percent"]}
    cap_ratios = []
    for size in sorted({p["size"] for p in summary}):
        def cap(server):
            return capacity.get("%s/%s" % (server, size), {}).get("deliveries_per_s")
        cap_ratios.append({"size": size,
                           "ringcast_tls_vs_plain": ratio(cap("ringcast-tls"), cap("ringcast-plain")),
                           "uws_ssl_vs_plain": ratio(cap("uws-ssl"), cap("uws-plain")),
                           "ringcast_tls_vs_uws_ssl": ratio(cap("ringcast-tls"), cap("uws-ssl"))})
    return summary, ratios, list(capacity.values()), cap_ratios


def storm(runs):
    servers = {}
    for d in runs:
        b, c = d["bench"], d.get("connect", {})
        n, secs = b["connections"], c.get("seconds") or None
        f = {
            "seconds_to_all_joined": secs,
            "connections_per_s": c.get("per_second"),
            "server_cpu_us_per_connection": b["server_cpu_s"] * 1e6 / n if n else None,
            "server_cpu_percent": 100 * b["server_cpu_s"] / secs if secs else None,
            "client_cpu_percent": 100 * b["client_cpu_s"] / secs if secs else None,
            "client_cpu_us_per_connection": b["client_cpu_s"] * 1e6 / n if n else None,
            "tls_handshake_p50_ms": d.get("tls", {}).get("handshake_ms", {}).get("p50"),
            "tls_handshake_p99_ms": d.get("tls", {}).get("handshake_ms", {}).get("p99"),
            "server_tls_handshakes": b.get("server_tls_handshakes"),
            "connected": c.get("connected"),
            "clean": bool(d.get("clean")) and (c.get("connected") or 0) >= n,
            "problems": d.get("problems", ""),
        }
        servers.setdefault(b["server"], []).append(f)
    out = {}
    for server, fs in servers.items():
        m = medians(fs)
        m.update({"reps": len(fs), "clean_reps": sum(f["clean"] for f in fs),
                  "problems": [f["problems"] for f in fs if f["problems"]],
                  "each": {k: [f[k] for f in fs] for k in ("connections_per_s", "server_cpu_us_per_connection",
                                                           "client_cpu_percent")}})
        us = m["server_cpu_us_per_connection"]
        m["server_capacity_per_core"] = 1e6 / us if us else None
        out[server] = m
    return out


def churn(runs):
    modes = {}
    for d in runs:
        b, r, cpu = d["bench"], d.get("reconnect", {}), d.get("cpu", {})
        reconnects = r.get("reconnects") or 0
        window = cpu.get("window_s") or None
        f = {
            "reconnects": reconnects,
            "reconnects_per_s": reconnects / window if window else None,
            "server_cpu_us_per_reconnect": cpu["watched_s"] * 1e6 / reconnects if reconnects and "watched_s" in cpu else None,
            "server_cpu_percent": 100 * cpu["watched_s"] / window if window and "watched_s" in cpu else None,
            "client_cpu_percent": cpu.get("client_percent"),
            "deliveries": d.get("delivery", {}).get("received"),
            "missing": d.get("delivery", {}).get("missing"),
            "duplicates": d.get("delivery", {}).get("duplicates"),
            "server_tls_handshakes": b.get("server_tls_handshakes"),
            "server_tls_resumed": b.get("server_tls_resumed"),
            # The first handshake of each connection is a full one; every later one is a reconnect's.
            "resumed_share": (b["server_tls_resumed"] / (b["server_tls_handshakes"] - b["connections"])
                              if (b.get("server_tls_handshakes") or 0) > b["connections"] else None),
            "clean": bool(d.get("clean")),
            "problems": d.get("problems", ""),
        }
        modes.setdefault(b["mode"], []).append(f)
    out = {}
    for mode, fs in modes.items():
        m = medians(fs)
        m.update({"reps": len(fs), "clean_reps": sum(f["clean"] for f in fs),
                  "problems": [f["problems"] for f in fs if f["problems"]],
                  "each": {k: [f[k] for f in fs] for k in ("reconnects_per_s", "server_cpu_us_per_reconnect")}})
        out[mode] = m
    return out


def memory(runs, openssl_runs):
    servers = {}
    for d in runs:
        b = d["bench"]
        n = b["connections"]
        f = {
            "anon_bytes_per_connection": (b["anon_kib_after"] - b["anon_kib_before"]) * 1024 / n,
            "private_dirty_bytes_per_connection": (b["private_dirty_kib_after"] - b["private_dirty_kib_before"]) * 1024 / n,
            "rss_bytes_per_connection": (b["rss_kib_after"] - b["rss_kib_before"]) * 1024 / n,
            "established": b.get("established"),
            "client_bytes_per_connection": d.get("memory", {}).get("bytes_per_connection"),
            "clean": bool(d.get("clean")) and (b.get("established") or 0) >= n,
            "problems": d.get("problems", ""),
        }
        servers.setdefault(b["server"], []).append(f)
    out = {}
    for server, fs in servers.items():
        m = medians(fs)
        m.update({"reps": len(fs), "clean_reps": sum(f["clean"] for f in fs),
                  "problems": [f["problems"] for f in fs if f["problems"]],
                  "each": [f["anon_bytes_per_connection"] for f in fs]})
        out[server] = m
    openssl = {}
    for version, ds in openssl_runs.items():
        m = {k: med([d[k] for d in ds]) for k in ("openssl_bytes_per_connection", "openssl_blocks_per_connection",
                                                  "heap_bytes_per_connection", "rss_anon_bytes_per_connection")}
        m["version"], m["cipher"], m["reps"] = ds[0]["version"], ds[0]["cipher"], len(ds)
        m["connections"] = ds[0]["connections"]
        sites = {}
        for d in ds:
            for s in d["sites"]:
                sites.setdefault(s["site"], []).append(s["bytes"])
        m["sites"] = sorted(({"site": k, "bytes": med(v)} for k, v in sites.items()), key=lambda s: -s["bytes"])
        openssl[version] = m
    return out, openssl


def scale(d):
    if d is None:
        return None
    b = d["bench"]
    n = b["connections"]
    bc = d.get("single_broadcast", {})
    kernel = (b["kernel_bytes_after"] - b["kernel_bytes_before"]) / n if b.get("kernel_bytes_before") else None
    return {
        "mode": b.get("mode", "TLS"),
        "connections": n,
        "workers": b["workers"],
        "online": b["online"],
        "connect": d.get("connect"),
        "tls": d.get("tls"),
        "server_tls_handshakes": b.get("server_tls_handshakes"),
        "handshake_timeout_ms": b.get("handshake_timeout_ms"),
        "server_tls_handshake_timeouts": b.get("server_tls_handshake_timeouts"),
        "broadcast_each_ms": bc.get("each_ms"),
        "broadcast_median_ms": bc.get("ms_to_last_median"),
        "broadcast_reached": bc.get("each_reached"),
        "delivery": {k: d.get("delivery", {}).get(k) for k in ("expected", "received", "missing", "duplicates",
                                                                "out_of_order")},
        "server_anon_bytes_per_connection": (b["anon_kib_after"] - b["anon_kib_before"]) * 1024 / n,
        "server_rss_kib": b["rss_kib_after"],
        "kernel_bytes_per_connection_pair": kernel,
        "client_bytes_per_connection": d.get("memory", {}).get("bytes_per_connection"),
        "cpu": d.get("cpu"),
        "clean": bool(d.get("clean")),
        "problems": d.get("problems", ""),
    }


def main(out):
    groups = {"throughput": [], "storm": [], "churn": [], "memory": []}
    openssl_runs = {}
    scale_run = None
    for path in sorted(glob.glob(os.path.join(out, "runs", "*.json"))):
        with open(path) as fp:
            d = json.load(fp)
        name = os.path.basename(path)
        if name.startswith("openssl-"):
            openssl_runs.setdefault(d["version"], []).append(d)
        elif "bench" in d and d["bench"].get("part") == "scale":
            scale_run = d
        elif "bench" in d and d["bench"].get("part") in groups:
            groups[d["bench"]["part"]].append(d)
    with open(os.path.join(out, "host.json")) as fp:
        host = json.load(fp)
    n = host["connections"]
    tp, tp_ratios, capacity, cap_ratios = throughput(groups["throughput"], n)
    st = storm(groups["storm"])
    ch = churn(groups["churn"])
    mem, openssl = memory(groups["memory"], openssl_runs)
    sc = scale(scale_run)
    summary = {"host": host, "throughput": {"points": tp, "ratios": tp_ratios, "capacity": capacity,
                                            "capacity_ratios": cap_ratios},
               "handshakes": {"storm": st, "churn": ch}, "memory": {"servers": mem, "openssl_alone": openssl},
               "scale": sc}
    with open(os.path.join(out, "summary.json"), "w") as fp:
        json.dump(summary, fp, indent=1)

    L = ["# TLS on the shards: ringcast TLS vs plaintext, vs uWebSockets SSLApp", "",
         "Host: %s CPUs (%s, AES-NI %s), kernel %s, OpenSSL %s; server on core %s, ringcast-load on core %s "
         "(scale: unpinned); medians of %s reps, servers interleaved; load average at start %s; git %s. "
         "Certificate: %s.%s" % (
             host["host"]["cpus"], host["host"].get("cpu", "?"), "yes" if host["host"].get("aes") else "no",
             host["host"]["kernel"], host["versions"]["openssl"], host["server_cpu"], host["client_cpu"],
             host["reps"], host.get("loadavg_at_start", "?"), host["git"], host["certificate"],
             (" Note: " + host["note"]) if host.get("note") else ""), ""]
    notes = []
    if tp:
        L += ["## Throughput: %d connections in one room" % n, "",
              "Items published through the push API at each rate for %s s (each item is delivered to all %d); "
              "ringcast `--threads 1`, merge window 0; uWS sends one message per publish." % (host["seconds"], n), "",
              "| size | rate (items/s) | server | deliveries/s | server CPU-s per 10^6 | client CPU % | publishes/s "
              "| p50 / p99 ms | clean |", "|---|---|---|---|---|---|---|---|---|"]
        for p in tp:
            L.append("| %d B | %g | %s | %s%s | %s | %s | %s | %s / %s | %d/%d |" % (
                p["size"], p["rate"], LABELS.get(p["server"], p["server"]), num(p["deliveries_per_s"], "%.0f"),
                "" if p["kept_up"] else " (sat.)", num(p["server_cpu_s_per_million"], "%.3f"),
                num(p["client_cpu_percent"], "%.0f"), num(p["publish_per_s"], "%.1f"), num(p["p50_ms"], "%.1f"),
                num(p["p99_ms"], "%.1f"), p["clean_reps"], p["reps"]))
        L += ["", "Ratios of medians at each rate (deliveries/s; server CPU per delivery):", "",
              "| size | rate | ringcast TLS / plain | uWS SSL / plain | ringcast TLS / uWS SSL |", "|---|---|---|---|---|"]
        for r in tp_ratios:
            L.append("| %d B | %g | %s; %s | %s; %s | %s; %s |" % (
                r["size"], r["rate"],
                num(r["ringcast_tls_vs_plain_deliveries"], "%.2f"), num(r["ringcast_tls_vs_plain_cpu_per_delivery"], "%.2f"),
                num(r["uws_ssl_vs_plain_deliveries"], "%.2f"), num(r["uws_ssl_vs_plain_cpu_per_delivery"], "%.2f"),
                num(r["ringcast_tls_vs_uws_ssl_deliveries"], "%.2f"), num(r["ringcast_tls_vs_uws_ssl_cpu_per_delivery"], "%.2f")))
        L += ["", "Highest median deliveries/s of each server (any rate):", "",
              "| size | server | deliveries/s | at rate | server CPU-s per 10^6 | client CPU % |", "|---|---|---|---|---|---|"]
        for c in sorted(capacity, key=lambda c: (c["size"], server_order(c["server"]))):
            L.append("| %d B | %s | %.0f | %g | %s | %s |" % (
                c["size"], LABELS.get(c["server"], c["server"]), c["deliveries_per_s"], c["at_rate"],
                num(c["server_cpu_s_per_million"], "%.3f"), num(c["client_cpu_percent"], "%.0f")))
        L += ["", "| size | ringcast TLS / plain | uWS SSL / plain | ringcast TLS / uWS SSL |", "|---|---|---|---|"]
        for r in cap_ratios:
            L.append("| %d B | %s | %s | %s |" % (r["size"], num(r["ringcast_tls_vs_plain"], "%.2f"),
                                                  num(r["uws_ssl_vs_plain"], "%.2f"), num(r["ringcast_tls_vs_uws_ssl"], "%.2f")))
        L += ["", "Each run (deliveries/s; server CPU-s per 10^6; client CPU %), in rep order:", ""]
        for p in tp:
            L.append("- %d B %g/s %s: %s; %s; %s" % (
                p["size"], p["rate"], p["server"], ", ".join(num(v, "%.0f") for v in p["each"]["deliveries_per_s"]),
                ", ".join(num(v, "%.3f") for v in p["each"]["server_cpu_s_per_million"]),
                ", ".join(num(v, "%.0f") for v in p["each"]["client_cpu_percent"])))
        for p in tp:
            if p["client_cpu_percent"] is not None and p["client_cpu_percent"] >= 90:
                notes.append("%s, %d B at %g/s: the client used %.0f%% of its core: this point measures the client" % (
                    p["server"], p["size"], p["rate"], p["client_cpu_percent"]))
            for problem in p["problems"]:
                notes.append("%s, %d B at %g/s: %s" % (p["server"], p["size"], p["rate"], problem))
        L.append("")
    if st:
        L += ["## Handshakes on one core", "",
              "Connect storm: %d connections opened at once (ringcast-load unpaced, at most 512 handshakes in "
              "flight), each upgraded (ringcast: JOINed and PONGed); time from the first connect to the last "
              "join (the load tool's); CPU of the server and of the client until the load tool holds (nothing "
              "runs in the hold). TLS: a full handshake each (TLS 1.3, X25519, ECDSA P-256; the client %s). "
              "\"Server capacity\" is 10^6 / server CPU-us per connection: the connections/s one core would "
              "take if the server alone were the limit." % (
                  n, "verifies the chain with the CA" if host.get("storm_verify") == "ca" else "does not verify"), "",
              "| server | connections/s | server CPU-us per connection | server capacity per core | server CPU % "
              "| client CPU % | client CPU-us per connection | TLS handshake p50 / p99 ms | clean |",
              "|---|---|---|---|---|---|---|---|---|"]
        for server in sorted(st, key=server_order):
            m = st[server]
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s / %s | %d/%d |" % (
                LABELS.get(server, server), num(m["connections_per_s"], "%.0f"),
                num(m["server_cpu_us_per_connection"], "%.1f"), num(m["server_capacity_per_core"], "%.0f"),
                num(m["server_cpu_percent"], "%.0f"), num(m["client_cpu_percent"], "%.0f"),
                num(m["client_cpu_us_per_connection"], "%.1f"),
                num(m["tls_handshake_p50_ms"], "%.1f"), num(m["tls_handshake_p99_ms"], "%.1f"),
                m["clean_reps"], m["reps"]))
        L.append("")
        for a, b in (("ringcast-tls", "ringcast-plain"), ("uws-ssl", "uws-plain"), ("ringcast-tls", "uws-ssl")):
            if a in st and b in st:
                t, p = st[a], st[b]
                L.append("- %s / %s: connections/s %s, server CPU per connection %s (difference %s CPU-us)" % (
                    LABELS[a], LABELS[b], num(ratio(t["connections_per_s"], p["connections_per_s"]), "%.2f"),
                    num(ratio(t["server_cpu_us_per_connection"], p["server_cpu_us_per_connection"]), "%.2f"),
                    num((t["server_cpu_us_per_connection"] or 0) - (p["server_cpu_us_per_connection"] or 0), "%.1f")))
        for server, m in st.items():
            if m["client_cpu_percent"] is not None and m["client_cpu_percent"] >= 90:
                notes.append("storm %s: the client used %.0f%% of its core: connections/s is the client's rate, "
                             "the server's capacity is the CPU-us figure" % (server, m["client_cpu_percent"]))
            for problem in m["problems"]:
                notes.append("storm %s: %s" % (server, problem))
        L += ["", "Each run (connections/s; server CPU-us per connection; client CPU %):", ""]
        for server in sorted(st, key=server_order):
            m = st[server]
            L.append("- %s: %s; %s; %s" % (server, ", ".join(num(v, "%.0f") for v in m["each"]["connections_per_s"]),
                                           ", ".join(num(v, "%.1f") for v in m["each"]["server_cpu_us_per_connection"]),
                                           ", ".join(num(v, "%.0f") for v in m["each"]["client_cpu_percent"])))
        L.append("")
    if ch:
        c = host["churn"]
        L += ["Reconnect churn: %d connections, %g items/s published for %g s, every connection dropping and "
              "reconnecting after about %g items (ringcast-load --reconnect-every; over TLS the reconnect "
              "offers its last session: a resumed handshake, PSK with X25519). Server CPU per reconnect "
              "includes the deliveries and the resume's replay." % (c["connections"], c["rate"], c["seconds"], c["every"]), "",
              "| mode | reconnects/s | server CPU-us per reconnect | server CPU % | client CPU % | resumed / all TLS "
              "handshakes (server; share of the reconnects' handshakes) | missing | duplicates | clean |", "|---|---|---|---|---|---|---|---|---|"]
        for mode in ("tls", "plain"):
            m = ch.get(mode)
            if not m:
                continue
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %d/%d |" % (
                mode, num(m["reconnects_per_s"], "%.0f"), num(m["server_cpu_us_per_reconnect"], "%.1f"),
                num(m["server_cpu_percent"], "%.0f"), num(m["client_cpu_percent"], "%.0f"),
                "-" if mode != "tls" else "%s / %s (%s)" % (num(m["server_tls_resumed"], "%.0f"),
                                                           num(m["server_tls_handshakes"], "%.0f"),
                                                           num(m["resumed_share"], "%.3f")),
                num(m["missing"], "%.0f"), num(m["duplicates"], "%.0f"), m["clean_reps"], m["reps"]))
        if "tls" in ch and "plain" in ch:
            t, p = ch["tls"], ch["plain"]
            L += ["", "TLS / plain: reconnects/s %s, server CPU per reconnect %s; a resumed handshake's own "
                  "cost on the server: %s CPU-us (against %s for a full one in the storm)." % (
                      num(ratio(t["reconnects_per_s"], p["reconnects_per_s"]), "%.2f"),
                      num(ratio(t["server_cpu_us_per_reconnect"], p["server_cpu_us_per_reconnect"]), "%.2f"),
                      num((t["server_cpu_us_per_reconnect"] or 0) - (p["server_cpu_us_per_reconnect"] or 0), "%.1f"),
                      num((st.get("ringcast-tls", {}).get("server_cpu_us_per_connection") or 0)
                          - (st.get("ringcast-plain", {}).get("server_cpu_us_per_connection") or 0), "%.1f") if st else "-")]
            for mode, m in ch.items():
                for problem in m["problems"]:
                    notes.append("churn %s: %s" % (mode, problem))
        L.append("")
    if mem or openssl:
        L += ["## Memory per idle connection", "",
              "%d idle connections (upgraded; ringcast: JOINed and PONGed) held on a fresh server; the server's "
              "smaps_rollup with them minus right after start, over %d. Target for TLS: 8 KiB." % (n, n), "",
              "| server | Anonymous B/conn | Private_Dirty B/conn | RSS B/conn | client B/conn | clean |",
              "|---|---|---|---|---|---|"]
        for server in sorted(mem, key=server_order):
            m = mem[server]
            L.append("| %s | %s | %s | %s | %s | %d/%d |" % (
                LABELS.get(server, server), num(m["anon_bytes_per_connection"], "%.0f"),
                num(m["private_dirty_bytes_per_connection"], "%.0f"), num(m["rss_bytes_per_connection"], "%.0f"),
                num(m["client_bytes_per_connection"], "%.0f"), m["clean_reps"], m["reps"]))
        if "ringcast-tls" in mem and "ringcast-plain" in mem:
            t, p = mem["ringcast-tls"], mem["ringcast-plain"]
            L += ["", "ringcast: TLS %.1f KiB per idle connection, plaintext %.2f KiB; TLS adds %.1f KiB (%.0f B)." % (
                t["anon_bytes_per_connection"] / 1024, p["anon_bytes_per_connection"] / 1024,
                (t["anon_bytes_per_connection"] - p["anon_bytes_per_connection"]) / 1024,
                t["anon_bytes_per_connection"] - p["anon_bytes_per_connection"])]
        for version in sorted(openssl):
            o = openssl[version]
            L += ["", "OpenSSL alone (bench_tls_memory, %d server SSL objects after a full %s handshake, %s, "
                  "ringcast's context settings incl. SSL_MODE_RELEASE_BUFFERS, and one request/answer; glibc "
                  "malloc): %.0f B per connection in %.0f allocations (%.0f B of heap with malloc's overhead, "
                  "%.0f B of RssAnon)." % (o["connections"], o["version"], o["cipher"], o["openssl_bytes_per_connection"],
                                           o["openssl_blocks_per_connection"], o["heap_bytes_per_connection"],
                                           o["rss_anon_bytes_per_connection"])]
            if version == "TLSv1.3":
                L += ["", "| B per connection | OpenSSL allocation site |", "|---|---|"]
                for s in o["sites"]:
                    if s["bytes"] >= 8:
                        L.append("| %.0f | %s |" % (s["bytes"], s["site"].replace("../", "")))
        L.append("")
    if sc:
        c = sc["connect"] or {}
        d = sc["delivery"]
        L += ["## Scale: %d %s connections, `--workers %d --threads 1`" % (sc["connections"], sc["mode"], sc["workers"]), "",
              "ringcast-load in %s processes over source addresses from 127.0.0.2 (25,000 each); nothing pinned; "
              "server --handshake-timeout-ms %s." % (
                  (scale_run or {}).get("processes", {}).get("workers", "?"), sc.get("handshake_timeout_ms", "?")), "",
              "- connected %s of %s in %s s: %s connections/s (TLS handshake p50 %s ms, p99 %s ms; %s failed)" % (
                  c.get("connected"), c.get("requested"), num(c.get("seconds"), "%.1f"), num(c.get("per_second"), "%.0f"),
                  num((sc["tls"] or {}).get("handshake_ms", {}).get("p50"), "%.1f"),
                  num((sc["tls"] or {}).get("handshake_ms", {}).get("p99"), "%.1f"), (sc["tls"] or {}).get("tls_failed")),
              "- the server cut %s connections at its handshake deadline (tlsHandshakeTimeouts)" % (
                  sc.get("server_tls_handshake_timeouts"),),
              "- broadcasts to all: %s ms each (median %s ms); reached %s" % (
                  ", ".join("%.0f" % v for v in sc["broadcast_each_ms"] or []), num(sc["broadcast_median_ms"], "%.0f"),
                  ", ".join("%d" % v for v in sc["broadcast_reached"] or [])),
              "- delivery: expected %s, received %s, missing %s, duplicates %s, out of order %s" % (
                  d["expected"], d["received"], d["missing"], d["duplicates"], d["out_of_order"]),
              "- server memory: %.0f B of anonymous memory per connection (all workers; %.0f MiB RSS in all); "
              "kernel %s B per connection pair; client %s B per connection" % (
                  sc["server_anon_bytes_per_connection"], sc["server_rss_kib"] / 1024,
                  num(sc["kernel_bytes_per_connection_pair"], "%.0f"), num(sc["client_bytes_per_connection"], "%.0f")),
              "- CPU over the broadcasts: server %s s, client %s%% of a core" % (
                  num((sc["cpu"] or {}).get("watched_s"), "%.2f"), num((sc["cpu"] or {}).get("client_percent"), "%.0f")),
              "- clean: %s%s" % (sc["clean"], (" (" + sc["problems"] + ")") if sc["problems"] else ""), ""]
    if notes:
        L += ["## Notes", ""] + ["- " + x for x in notes] + [""]
    L += ["Server CPU: utime+stime of the server's processes (/proc/PID/stat) over the measured window "
          "(throughput, churn: end of the hold until everything was delivered; storm: from the first connect until the load tool holds). "
          "Client CPU: ringcast-load's workers and publisher, in % of its one core.", ""]
    with open(os.path.join(out, "report.md"), "w") as fp:
        fp.write("\n".join(L))
    print("\n".join(L))


if __name__ == "__main__":
    main(sys.argv[1])
