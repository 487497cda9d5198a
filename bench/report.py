"""The printed table and the JSON file of one run."""

import json
import os
import platform
from datetime import datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ARROW = {"lower": "↓", "higher": "↑"}


def machine():
    info = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def fmt(value, unit):
    if value is None:
        return "n/a"
    if unit == "s":
        return f"{value:.2f}"
    if unit == "ms":
        return f"{value:.1f}" if value < 100 else f"{value:.0f}"
    if unit == "µs":
        return f"{value:.1f}" if value < 100 else f"{value:,.0f}"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def value_of(run, system, key):
    entry = run["systems"].get(system, {}).get("metrics", {}).get(key, {})
    return entry.get("value")


def ratios(run, metrics):
    """kernel ÷ peer for every metric both have."""
    out = {}
    for peer in run["systems"]:
        if peer == "kernel":
            continue
        for m in metrics:
            ours, theirs = value_of(run, "kernel", m.key), value_of(run, peer, m.key)
            if ours is not None and theirs:
                out.setdefault(peer, {})[m.key] = ours / theirs
    return out


MEMORY_GROWTH_GOAL = 1.10  # the controller's RSS after N tasks ÷ after N/10
LB_ECHO_GOAL = 15  # a load-balanced task's round trip ÷ the raw TCP echo


def goals(run):
    """Our round trip against the raw wire, our biggest transfer against raw TLS, our controller's growth."""
    floor = run.get("floor") or {}
    out = memory_growth(run)
    floors = {kind: (floor.get(f"{kind}_us") or {}).get("median")
              for kind in ("tcp_echo", "tcp_echo_typical", "tls_echo", "tls_relay")}
    for name, key in (("rtt", "latency.one.median"), ("lb", "tasks.latency.median")):
        ours = value_of(run, "kernel", key)
        for kind, us in floors.items():
            if ours is not None and us:
                out[f"{name}_over_{kind}"] = ours / us
    tls = (floor.get("tls_bandwidth") or {}).get("mb_per_s")
    sizes = run["options"]["sizes"]
    if tls and sizes:
        size = 128 if 128 in sizes else max(sizes)
        out["bandwidth_size_mb"] = size
        for way in ("push", "pull"):
            ours = value_of(run, "kernel", f"bandwidth.{way}.{size}")
            if ours is not None:
                out[f"{way}_over_tls"] = ours / tls
    return out


def memory_growth(run):
    """kernel's controller RSS after the most tasks ÷ after the fewest, if both were measured."""
    few, many = min(run["options"]["memory_tasks"]), max(run["options"]["memory_tasks"])
    first, last = (value_of(run, "kernel", f"memory.rss.{n}") for n in (few, many))
    if not first or last is None:
        return {}
    return {"memory_growth": last / first, "memory_tasks": [few, many]}


def table(run, metrics):
    systems = [s for s, d in run["systems"].items() if d.get("available")]
    peers = [s for s in systems if s != "kernel"] if "kernel" in systems else []
    rows = [["metric", "unit", *systems, *[f"kernel/{p}" for p in peers]]]
    notes = [f"{s}: not run: {d.get('note')}" for s, d in run["systems"].items() if not d.get("available")]
    for m in metrics:
        row = [m.label, f"{m.unit} {ARROW[m.better]}"]
        for s in systems:
            entry = run["systems"][s].get("metrics", {}).get(m.key, {})
            if "value" in entry:
                row.append(fmt(entry["value"], m.unit))
                continue
            why = entry.get("skipped") or entry.get("error") or run["systems"][s].get("note") or "not run"
            note = f"{s}: {why}"
            if note not in notes:
                notes.append(note)
            row.append(f"n/a[{notes.index(note) + 1}]")
        for p in peers:
            r = run["ratios"].get(p, {}).get(m.key)
            row.append(f"{r:.2f}" if r is not None else "")
        rows.append(row)
    return align(rows), notes


def align(rows, left=2, sep="  "):
    """Lines of a text table: the first ``left`` columns left-aligned, the rest right-aligned, a rule under the header.

    With ``sep=" | "`` the lines are a Markdown table.
    """
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    edge = sep.strip()
    lines = []
    for i, r in enumerate(rows):
        cells = [c.ljust(w) if j < left else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))]
        lines.append(f"{edge} {sep.join(cells)} {edge}".strip() if edge else sep.join(cells).rstrip())
        if i == 0:
            rule = sep.join("-" * w for w in widths)
            lines.append(f"{edge} {rule} {edge}".strip() if edge else rule)
    return lines


def goal_lines(g):
    """The "goals" lines for what this run measured (none without kernel)."""
    lines = []
    for name, what in (("lb", "load-balanced task"), ("rtt", "execute('pass') on one engine")):
        if f"{name}_over_tcp_echo" in g:
            lines.append(f"  kernel round trip ({what}, median) ÷ raw TCP echo: {g[f'{name}_over_tcp_echo']:.1f}x"
                         + (f" (goal ≤ {LB_ECHO_GOAL:g}x)" if name == "lb" else "")
                         + (f"; ÷ its typical value: {g[f'{name}_over_tcp_echo_typical']:.1f}x"
                            if f"{name}_over_tcp_echo_typical" in g else "")
                         + f"; ÷ raw TLS echo: {g.get(f'{name}_over_tls_echo', 0):.1f}x"
                         + (f"; ÷ raw TLS relay: {g[f'{name}_over_tls_relay']:.1f}x"
                            if f"{name}_over_tls_relay" in g else ""))
    for way in ("push", "pull"):
        if f"{way}_over_tls" in g:
            lines.append(f"  kernel {way} {g['bandwidth_size_mb']} MB ÷ raw TLS bandwidth: {g[f'{way}_over_tls']:.2f}")
    if "memory_growth" in g:
        few, many = g["memory_tasks"]
        lines.append(f"  kernel controller RSS after {many:,} tasks ÷ after {few:,}: {g['memory_growth']:.2f} "
                     f"(goal ≤ {MEMORY_GROWTH_GOAL:.2f})")
    return lines


def render(run, metrics):
    m = run["machine"]
    out = [f"kernel benchmarks, {run['started'][:19]}: {m.get('cpu', m['machine'])}, {m['cpus']} cores, "
           f"Python {m['python']}, load average {run.get('load_before')} before / {run.get('load_after')} after"
           + (" (quick)" if run["options"]["quick"] else "")]
    versions = ", ".join(f"{s} {d.get('version') or '?'}" for s, d in run["systems"].items() if d.get("available"))
    if versions:
        out.append(f"versions: {versions}")
    floor = run.get("floor")
    if floor:
        out.append(
            f"floor (loopback, this run, better of before/after): TCP echo round trip median {fmt(floor['tcp_echo_us']['median'], 'µs')} µs "
            f"(p99 {fmt(floor['tcp_echo_us']['p99'], 'µs')}"
            + (f"; typical {fmt(floor['tcp_echo_typical_us']['median'], 'µs')} µs, the median of its batches"
               if "tcp_echo_typical_us" in floor else "")
            + f"); TLS echo {fmt(floor['tls_echo_us']['median'], 'µs')} µs; "
            + "".join(f"{label} relay through a third process {fmt(floor[key]['median'], 'µs')} µs; "
                      for label, key in (("TCP", "tcp_relay_us"), ("TLS", "tls_relay_us")) if key in floor)
            + f"TLS 1.3 bandwidth {floor['tls_bandwidth']['size_mb']:.0f} MB: "
            f"{fmt(floor['tls_bandwidth']['mb_per_s'], 'MB/s')} MB/s")
    out.append("")
    lines, notes = table(run, metrics)
    out.extend(lines)
    out.append("")
    out.append("↓ lower is better, ↑ higher is better; kernel/peer is kernel's number divided by the peer's "
               "(for ↓ rows below 1 means kernel is faster, for ↑ rows above 1 does). MB = 2**20 bytes.")
    lines = goal_lines(run.get("goals") or {})
    if lines:
        out.extend(["", "goals:", *lines])
    if notes:
        out.append("")
        out.append("notes:")
        out.extend(f"  [{i}] {n}" for i, n in enumerate(notes, 1))
    return "\n".join(out)


def write_json(run, directory=RESULTS, prefix=""):
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(run["started"]).strftime("%Y%m%d-%H%M%S")
    path = directory / f"{prefix}{stamp}.json"
    path.write_text(json.dumps(run, indent=1, default=str) + "\n")
    return path
