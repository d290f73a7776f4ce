"""What the reports over ringcast-load runs share (bench/deflate_report.py, sse_report.py,
tls_report.py): the runs a bench script annotated with a "bench" section, the figures every
ringcast-load summary has, and the median of a point's repetitions."""
import glob
import json
import os
import statistics


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def bench_runs(out):
    """The ringcast-load summaries in OUT/runs/*.json that carry a "bench" section, by file name."""
    runs = []
    for path in sorted(glob.glob(os.path.join(out, "runs", "*.json"))):
        with open(path) as fp:
            d = json.load(fp)
        if "bench" in d:
            runs.append(d)
    return runs


def load_figures(d):
    """The figures of one ringcast-load run that every report gives (None where the run has none)."""
    delivery, cpu, publish = d.get("delivery", {}), d.get("cpu", {}), d.get("publish", {})
    received = delivery.get("received") or 0
    return {
        "deliveries_per_s": delivery.get("items_per_second"),
        "server_cpu_s_per_million": cpu["watched_s"] / (received / 1e6) if received and "watched_s" in cpu else None,
        "client_cpu_percent": cpu.get("client_percent"),
        "publish_per_s": publish.get("per_second"),
        "wire_bytes_per_item": delivery.get("wire_bytes_per_item") if received else None,
        "p50_ms": d.get("latency_ms", {}).get("p50"),
        "p99_ms": d.get("latency_ms", {}).get("p99"),
    }


def medians(figures):
    """The median of each figure over a point's repetitions (the verdicts "clean" and "problems" are
    the caller's to count)."""
    return {k: med([f[k] for f in figures]) for k in figures[0] if k not in ("clean", "problems")}
