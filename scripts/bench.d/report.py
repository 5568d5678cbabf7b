#!/usr/bin/env python3
"""Turns one scripts/bench run into a table (stdout) and a JSON file.

    report.py WORK_DIR OUT_JSON

WORK_DIR holds what scripts/bench collected:
    meta.tsv      key<TAB>value lines (settings, versions, memory, URLs)
    runs.tsv      target kind concurrency threads wrk-output-file exit-status
                  [cpu-before cpu-after: group=ticks,… of mock, hop, gateway, pool, redis]
    ttfb/TARGET.txt  one line per stream request at c=1:
                  time_starttransfer(s) http_code size_download
    floor.tsv     (--floor) like runs.tsv, for nginx in front of each sluice-floor
                  responder (targets floor-MODE; groups floor = its nginx, responder)
    floor/curl-N.txt, floor/curl-multi-N.txt  (--floor) sluice-floor's
                  `calls=… cpu_us=… user_us=…` for libcurl alone

wrk's text report is parsed for requests/s, the latency distribution (us, ms,
s, m, h -> microseconds), non-2xx responses and socket errors; the
`BENCH_DONE {...}` line printed by post.lua supplies bytes read and is used
when the text is missing a number.
"""
import json
import os
import re
import statistics
import sys

UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
TARGET_ORDER = ["direct", "hop", "sluice", "peer"]
# The hot-path budget (issue 16): per call, at c=64 for CPU, with every feature on.
BUDGET = {
    "gateway_cpu_us": 120,      # nginx (FastCGI side) + pool + Redis
    "redis_cpu_us": 15,
    "pool_cpu_us": 60,
    "nginx_cpu_us": 45,
    "added_p50_ms_c1": 0.2,
    "stream_ttfb_added_ms": 0.2,
    "rps_vs_peer_c64": 100,
}

GOALS = {
    "latency_ratio_c1_max": 3.0,
    "throughput_ratio_c64_min": 0.5,
    "stream_ttfb_added_ms_max": 1.0,
    "memory": "flat (after ~ before)",
}


def to_us(text):
    m = re.fullmatch(r"([0-9]*\.?[0-9]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * UNITS_US[m.group(2)]


def parse_wrk(text):
    """The numbers of one wrk report; missing ones are None."""
    out = {"rps": None, "requests": None, "elapsed_s": None, "latency_us": {},
           "errors": {"non2xx": 0, "connect": 0, "read": 0, "write": 0, "timeout": 0},
           "bytes": None, "done": None}
    m = re.search(r"^Requests/sec:\s*([0-9.]+)\s*$", text, re.M)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"^\s*(\d+) requests in ([0-9.]+\w+), ", text, re.M)
    if m:
        out["requests"] = int(m.group(1))
        out["elapsed_s"] = to_us(m.group(2)) / 1e6
    m = re.search(r"^\s*Latency\s+([0-9.]+\w+)\s+([0-9.]+\w+)\s+([0-9.]+\w+)", text, re.M)
    if m:
        out["latency_us"]["avg"] = to_us(m.group(1))
        out["latency_us"]["stdev"] = to_us(m.group(2))
        out["latency_us"]["max"] = to_us(m.group(3))
    dist = text.split("Latency Distribution", 1)
    if len(dist) == 2:
        for pct, value in re.findall(r"^\s*(\d+)%\s+([0-9.]+\w+)\s*$", dist[1], re.M):
            out["latency_us"][f"p{pct}"] = to_us(value)
    m = re.search(r"^\s*Non-2xx or 3xx responses:\s*(\d+)", text, re.M)
    if m:
        out["errors"]["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        for key, value in zip(("connect", "read", "write", "timeout"), m.groups()):
            out["errors"][key] = int(value)
    m = re.search(r"^BENCH_DONE (\{.*\})\s*$", text, re.M)
    if m:
        try:
            done = json.loads(m.group(1))
        except ValueError:
            done = None
        if done:
            out["done"] = done
            out["bytes"] = done.get("bytes")
            lat = done.get("latency_us", {})
            for key in ("p50", "p90", "p99", "max"):
                if key not in out["latency_us"] and key in lat:
                    out["latency_us"][key] = float(lat[key])
            if out["requests"] is None:
                out["requests"] = done.get("requests")
            if out["rps"] is None and done.get("duration_us"):
                out["rps"] = done["requests"] / (done["duration_us"] / 1e6)
            errs = done.get("errors", {})
            # The counters must agree with the text; keep the larger if not.
            out["errors"]["non2xx"] = max(out["errors"]["non2xx"], errs.get("status", 0))
            for key in ("connect", "read", "write", "timeout"):
                out["errors"][key] = max(out["errors"][key], errs.get(key, 0))
    out["errors"]["total"] = sum(v for k, v in out["errors"].items() if k != "total")
    return out


def read_meta(work):
    meta = {}
    with open(os.path.join(work, "meta.tsv")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("\t")
            if key:
                meta[key] = value
    return meta


def num(meta, key, cast=float):
    try:
        return cast(meta[key])
    except (KeyError, ValueError):
        return None


def parse_ticks(text):
    out = {}
    for pair in text.split(","):
        name, _, value = pair.partition("=")
        if name and value.isdigit():
            out[name] = int(value)
    return out


def cpu_per_request(before, after, requests, ticks_per_s):
    """CPU microseconds per request of each process group during one run."""
    if not requests or not ticks_per_s:
        return None
    out = {}
    for group, start in parse_ticks(before).items():
        end = parse_ticks(after).get(group)
        if end is not None and end > start:
            out[group] = (end - start) * 1e6 / ticks_per_s / requests
    return out


def read_runs(work, ticks_per_s=None, name="runs.tsv"):
    runs = []
    with open(os.path.join(work, name)) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) not in (6, 8):
                continue
            target, kind, conc, threads, path, status = parts[:6]
            cpu_before, cpu_after = (parts[6], parts[7]) if len(parts) == 8 else ("", "")
            try:
                with open(path, errors="replace") as g:
                    text = g.read()
            except OSError:
                text = ""
            parsed = parse_wrk(text)
            ok = status == "0" and parsed["rps"] is not None and "p50" in parsed["latency_us"]
            run = {"target": target, "kind": kind, "concurrency": int(conc), "wrk_threads": int(threads),
                   "ok": ok, "wrk_exit": int(status) if status.isdigit() else status,
                   "rps": parsed["rps"], "requests": parsed["requests"], "elapsed_s": parsed["elapsed_s"],
                   "latency_us": parsed["latency_us"], "errors": parsed["errors"],
                   "bytes_read": parsed["bytes"],
                   "bytes_per_response": (parsed["bytes"] / parsed["requests"])
                   if parsed["bytes"] and parsed["requests"] else None,
                   "cpu_us_per_request": cpu_per_request(cpu_before, cpu_after, parsed["requests"], ticks_per_s)}
            if not ok:
                tail = [l for l in text.strip().splitlines() if l.strip()][-3:]
                run["failure"] = " | ".join(tail) or "no output"
            run["redis_commands_per_request"] = redis_per_request(work, target, kind, conc, parsed["requests"])
            runs.append(run)
    return runs


def parse_commandstats(path):
    """`INFO commandstats` as {command: (calls, usec)}."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"cmdstat_([^:]+):calls=(\d+),usec=(\d+)", line.strip())
                if m:
                    out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    except OSError:
        pass
    return out


def redis_per_request(work, target, kind, conc, requests):
    """Per request, each Redis command's calls and microseconds during one gateway run
    (commands run by scripts are counted both on their own and in the script's time)."""
    base = os.path.join(work, "redis", f"commandstats-{target}-{kind}-c{conc}")
    before, after = parse_commandstats(base + ".before"), parse_commandstats(base + ".after")
    if not after or not requests:
        return None
    out = {}
    for name, (calls, usec) in after.items():
        c0, u0 = before.get(name, (0, 0))
        if calls > c0:
            out[name] = {"calls": (calls - c0) / requests, "usec": (usec - u0) / requests}
    return out


FLOOR_SHAPES = [
    ("responder", "nginx + a trivial libfcgi responder (canned answers)"),
    ("proxy-pool", "nginx + the pool's shape: threads on one epoll, blocking libcurl"),
    ("proxy-loop", "nginx + one event loop: FastCGI and curl multi on epoll"),
]


def read_floor(work, ticks_per_s, direct_c1_p50_us):
    """--floor: nginx in front of responders that do no gateway work, and libcurl alone."""
    if not os.path.exists(os.path.join(work, "floor.tsv")):
        return None
    shapes = {}
    for run in read_runs(work, ticks_per_s, "floor.tsv"):
        shape = shapes.setdefault(run["target"].removeprefix("floor-"), {})
        cpu = run.get("cpu_us_per_request") or {}
        p50 = run["latency_us"].get("p50")
        shape[f"c{run['concurrency']}"] = {
            "ok": run["ok"] and not run["errors"]["total"], "rps": run["rps"], "p50_us": p50,
            "added_p50_us": p50 - direct_c1_p50_us if run["concurrency"] == 1 and p50 is not None
            and direct_c1_p50_us is not None else None,
            "nginx_cpu_us": cpu.get("floor"), "responder_cpu_us": cpu.get("responder"),
            "mock_cpu_us": cpu.get("mock")}
    curl = {}
    folder = os.path.join(work, "floor")
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        m = re.fullmatch(r"(curl|curl-multi)-(\d+)\.txt", name)
        if not m:
            continue
        with open(os.path.join(folder, name)) as f:
            fields = dict(re.findall(r"(\w+)=([\d.]+)", f.read()))
        if "cpu_us" in fields:
            curl[f"{m.group(1)}-{m.group(2)}"] = {
                "mode": "multi" if m.group(1) == "curl-multi" else "blocking", "parallel": int(m.group(2)),
                "calls": int(fields["calls"]), "cpu_us": float(fields["cpu_us"]),
                "user_us": float(fields["user_us"])}
    failed = []
    if os.path.exists(os.path.join(folder, "failed.txt")):
        with open(os.path.join(folder, "failed.txt"), errors="replace") as f:
            failed = [line.strip() for line in f if line.strip()]
    return {"shapes": shapes, "curl": curl, "failed": failed}


def render_floor(floor):
    out = []
    rows = [["the parts alone (--floor), c=64 (us)", "nginx", "responder", "mock", "sum", "req/s",
             "added p50, c=1 (ms)"]]
    bad = []
    for shape, label in FLOOR_SHAPES:
        runs = floor["shapes"].get(shape)
        if not runs:
            continue
        c1, c64 = runs.get("c1", {}), runs.get("c64", {})
        bad += [f"{shape} {c}" for c, v in runs.items() if not v["ok"]]
        parts = [c64.get("nginx_cpu_us"), c64.get("responder_cpu_us"), c64.get("mock_cpu_us")]
        known = [v for v in parts if v is not None]
        rows.append([label] + [fx(v, 0) for v in parts]
                    + [fx(sum(known) if known else None, 0), fx(c64.get("rps"), 0),
                       ms(c1.get("added_p50_us"))])
    out.append(table(rows, "lrrrrrr"))
    out.append("(no gateway work: the responders answer the mock's canned chat.completion, the proxies by "
               "asking the mock for it" + (f"; !! {', '.join(bad)} failed or saw errors" if bad else "") + ")")
    for failure in floor["failed"]:
        out.append(f"!! floor: {failure}")
    out.append("")
    rows = [["libcurl alone, POSTs to the mock", "CPU us/call", "of which user"]]
    for key, v in sorted(floor["curl"].items(), key=lambda kv: (kv[1]["mode"], kv[1]["parallel"])):
        how = (f"{v['parallel']} in flight on one multi handle" if v["mode"] == "multi"
               else f"blocking, {v['parallel']} thread{'s' if v['parallel'] > 1 else ''}")
        rows.append([how, fx(v["cpu_us"], 0), fx(v["user_us"], 0)])
    if len(rows) > 1:
        out.append(table(rows, "lrr"))
        out.append("")
    return out


def redis_by_script(work, kind):
    """Per script Sluice runs in Redis (named by `sluice scripts`), its calls and microseconds
    per request in the SLOWLOG-recorded run of `kind`; None when that run is missing."""
    names = {}
    try:
        with open(os.path.join(work, "redis", "scripts.jsonl")) as f:
            for line in f:
                entry = json.loads(line)
                names[entry["sha1"]] = entry["name"]
    except (OSError, ValueError, KeyError):
        pass
    try:
        with open(os.path.join(work, "redis", f"slowlog-{kind}.json")) as f:
            entries = json.load(f)
        with open(os.path.join(work, "wrk", f"split-{kind}.txt"), errors="replace") as f:
            requests = parse_wrk(f.read())["requests"]
    except (OSError, ValueError):
        return None
    if not requests or not isinstance(entries, list):
        return None
    scripts = {}
    for entry in entries:
        if not isinstance(entry, list) or len(entry) < 4 or not isinstance(entry[3], list) or len(entry[3]) < 2:
            continue
        command = str(entry[3][0]).lower()
        if command not in ("evalsha", "eval"):
            continue
        name = names.get(str(entry[3][1]), str(entry[3][1])[:12]) if command == "evalsha" else "eval (source sent)"
        calls, usec = scripts.get(name, (0, 0))
        scripts[name] = (calls + 1, usec + int(entry[2]))
    base = os.path.join(work, "redis", f"split-{kind}")
    before, after = parse_commandstats(base + ".before"), parse_commandstats(base + ".after")
    ran = sum(after.get(c, (0, 0))[0] - before.get(c, (0, 0))[0] for c in ("evalsha", "eval"))
    return {"requests": requests, "complete": len(entries) < SLOWLOG_ENTRIES,
            "caught": sum(calls for calls, _ in scripts.values()), "ran": ran,
            "scripts": {name: {"calls": calls / requests, "usec": usec / requests, "usec_per_call": usec / calls}
                        for name, (calls, usec) in scripts.items()}}


SLOWLOG_ENTRIES = 400000  # scripts/bench's SLOWLOG_ENTRIES


def read_ttfb(work):
    result = {}
    folder = os.path.join(work, "ttfb")
    if not os.path.isdir(folder):
        return result
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".txt"):
            continue
        times, errors, sizes = [], 0, set()
        with open(os.path.join(folder, name)) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 3:
                    continue
                t, code, size = parts
                if code != "200":
                    errors += 1
                    continue
                times.append(float(t) * 1e6)
                sizes.add(int(float(size)))
        entry = {"samples": len(times), "errors": errors, "response_sizes": sorted(sizes)}
        if times:
            times.sort()
            entry["median_us"] = statistics.median(times)
            entry["p90_us"] = times[min(len(times) - 1, int(0.9 * len(times)))]
            entry["min_us"] = times[0]
        result[name[:-4]] = entry
    return result


def find(runs, target, kind, conc):
    for run in runs:
        if run["target"] == target and run["kind"] == kind and run["concurrency"] == conc and run["ok"]:
            return run
    return None


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return None
    return a / b


def compute(runs, ttfb, meta):
    # Added latency: the target's p50 minus direct's, same kind and concurrency.
    for run in runs:
        base = find(runs, "direct", run["kind"], run["concurrency"])
        p50 = run["latency_us"].get("p50")
        run["added_p50_us"] = (p50 - base["latency_us"]["p50"]) if (base and p50 is not None and run["ok"]) else None

    targets = [t for t in TARGET_ORDER if any(r["target"] == t for r in runs)]
    ratios = {}
    for kind in ("json", "stream"):
        hop1, hop64 = find(runs, "hop", kind, 1), find(runs, "hop", kind, 64)
        entry = {"hop_added_p50_us_c1": hop1["added_p50_us"] if hop1 else None,
                 "hop_rps_c64": hop64["rps"] if hop64 else None}
        for target in targets:
            if target in ("direct", "hop"):
                continue
            t1, t64 = find(runs, target, kind, 1), find(runs, target, kind, 64)
            added = t1["added_p50_us"] if t1 else None
            entry[f"{target}_added_p50_us_c1"] = added
            entry[f"{target}_rps_c64"] = t64["rps"] if t64 else None
            entry[f"{target}_latency_ratio_c1"] = ratio(added, entry["hop_added_p50_us_c1"])
            entry[f"{target}_throughput_ratio_c64"] = ratio(entry[f"{target}_rps_c64"], entry["hop_rps_c64"])
        ratios[kind] = entry
    direct_ttfb = ttfb.get("direct", {}).get("median_us")
    ttfb_added = {}
    for target, entry in ttfb.items():
        if target != "direct" and entry.get("median_us") is not None and direct_ttfb is not None:
            ttfb_added[target] = (entry["median_us"] - direct_ttfb) / 1e3
    ratios["stream_ttfb_added_ms"] = ttfb_added

    before, after = num(meta, "rss_before_kb", int), num(meta, "rss_after_kb", int)
    memory = {"what": "VmRSS of the sluice master + its worker processes, after the warm-up and at the end",
              "start_kb": num(meta, "rss_start_kb", int), "before_kb": before, "after_kb": after,
              "growth_kb": (after - before) if before is not None and after is not None else None,
              "processes_before": num(meta, "rss_before_procs", int),
              "processes_after": num(meta, "rss_after_procs", int)}

    s = ratios["json"]
    goals = {
        "latency_ratio_c1": {"goal": f"<= {GOALS['latency_ratio_c1_max']}",
                             "value": s.get("sluice_latency_ratio_c1"),
                             "met": None if s.get("sluice_latency_ratio_c1") is None
                             else s["sluice_latency_ratio_c1"] <= GOALS["latency_ratio_c1_max"]},
        "throughput_ratio_c64": {"goal": f">= {GOALS['throughput_ratio_c64_min']}",
                                 "value": s.get("sluice_throughput_ratio_c64"),
                                 "met": None if s.get("sluice_throughput_ratio_c64") is None
                                 else s["sluice_throughput_ratio_c64"] >= GOALS["throughput_ratio_c64_min"]},
        "stream_ttfb_added_ms": {"goal": f"< {GOALS['stream_ttfb_added_ms_max']}",
                                 "value": ttfb_added.get("sluice"),
                                 "met": None if ttfb_added.get("sluice") is None
                                 else ttfb_added["sluice"] < GOALS["stream_ttfb_added_ms_max"]},
        "memory": {"goal": GOALS["memory"], "value_kb": memory["growth_kb"]},
    }
    return targets, ratios, memory, goals


def budget(runs, ratios, memory):
    """Each figure of the hot-path budget, JSON and stream: measured, target, met."""
    def cpu(kind, part):
        run = find(runs, "sluice", kind, 64)
        c = (run or {}).get("cpu_us_per_request") or {}
        if part == "gateway":
            parts = [c.get("gateway"), c.get("pool"), c.get("redis")]
            return None if None in parts else sum(parts)
        return c.get({"nginx": "gateway"}.get(part, part))
    rows = {}
    for name, part in (("gateway_cpu_us", "gateway"), ("redis_cpu_us", "redis"), ("pool_cpu_us", "pool"),
                       ("nginx_cpu_us", "nginx")):
        rows[name] = {kind: cpu(kind, part) for kind in ("json", "stream")}
    rows["added_p50_ms_c1"] = {kind: (None if ratios[kind].get("sluice_added_p50_us_c1") is None
                                      else ratios[kind]["sluice_added_p50_us_c1"] / 1e3) for kind in ("json", "stream")}
    rows["stream_ttfb_added_ms"] = {"json": None, "stream": ratios["stream_ttfb_added_ms"].get("sluice")}
    peer = {kind: ratio(ratios[kind].get("sluice_rps_c64"), ratios[kind].get("peer_rps_c64")) for kind in ("json", "stream")}
    rows["rps_vs_peer_c64"] = peer
    out = {}
    for name, values in rows.items():
        target = BUDGET[name]
        higher = name == "rps_vs_peer_c64"
        met = [v >= target if higher else v <= target for v in values.values() if v is not None]
        out[name] = dict(values, target=target, met=(all(met) if met else None))
    out["pool_rss_growth_kb"] = {"value": memory["growth_kb"], "target": "flat"}
    return out


# --- formatting ---------------------------------------------------------------

def ms(us, digits=3):
    return "-" if us is None else f"{us / 1e3:.{digits}f}"


def fx(value, digits=2, suffix=""):
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def table(rows, aligns):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [str(c).rjust(w) if a == "r" else str(c).ljust(w) for c, w, a in zip(row, widths, aligns)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def errors_cell(run):
    if not run["ok"]:
        return "FAILED"
    e = run["errors"]
    if e["total"] == 0:
        return "0"
    parts = []
    if e["non2xx"]:
        parts.append(f"{e['non2xx']} non-2xx")
    sock = e["connect"] + e["read"] + e["write"] + e["timeout"]
    if sock:
        parts.append(f"{sock} socket")
    return "!! " + ", ".join(parts)


def render(meta, runs, ttfb, targets, ratios, memory, by_script=None, floor=None):
    out = []
    out.append(f"Sluice benchmark  {meta.get('started_at', '')}  "
               f"{'quick, ' if meta.get('quick') == '1' else ''}{meta.get('duration', '?')} per run, "
               f"{meta.get('cores', '?')} cores, load {meta.get('load_before', '?')}; "
               f"pool {meta.get('workers', '?')} workers x {meta.get('threads', '?')} threads")
    out.append("")
    rows = [["kind", "c", "target", "req/s", "p50 ms", "p99 ms", "+p50 ms", "B/resp", "errors"]]
    order = {t: i for i, t in enumerate(TARGET_ORDER)}
    for run in sorted(runs, key=lambda r: (r["kind"] != "json", r["concurrency"], order.get(r["target"], 9))):
        lat = run["latency_us"]
        rows.append([run["kind"], run["concurrency"], run["target"],
                     "-" if run["rps"] is None else f"{run['rps']:.0f}",
                     ms(lat.get("p50")), ms(lat.get("p99")),
                     "" if run["target"] == "direct" else ms(run.get("added_p50_us")),
                     "-" if run["bytes_per_response"] is None else f"{run['bytes_per_response']:.0f}",
                     errors_cell(run)])
    out.append(table(rows, "lrlrrrrrl"))
    out.append("")

    rows = [["stream TTFB, c=1", "median ms", "p90 ms", "added ms", "samples", "errors"]]
    for target in targets:
        entry = ttfb.get(target)
        if not entry:
            continue
        added = ratios["stream_ttfb_added_ms"].get(target)
        rows.append([target, ms(entry.get("median_us")), ms(entry.get("p90_us")),
                     "" if target == "direct" else fx(added, 3), entry["samples"],
                     str(entry["errors"]) if not entry["errors"] else f"!! {entry['errors']}"])
    if len(rows) > 1:
        out.append(table(rows, "lrrrrl"))
        out.append("")

    plan = budget(runs, ratios, memory)
    labels = {"gateway_cpu_us": "gateway CPU per call, c=64 (us)", "redis_cpu_us": "  of which Redis (us)",
              "pool_cpu_us": "  of which the pool (us)", "nginx_cpu_us": "  of which nginx, FastCGI side (us)",
              "added_p50_ms_c1": "added p50, c=1 (ms)", "stream_ttfb_added_ms": "stream TTFB added (ms)",
              "rps_vs_peer_c64": "req/s vs the peer, c=64 (x)"}
    rows = [["hot-path budget", "json", "stream", "target", "met"]]
    for name, label in labels.items():
        row = plan[name]
        digits = 0 if name.endswith("_us") else (1 if name == "rps_vs_peer_c64" else 3)
        bound = (">= " if name == "rps_vs_peer_c64" else "<= ") + str(row["target"])
        rows.append([label, fx(row["json"], digits), fx(row["stream"], digits), bound,
                     "-" if row["met"] is None else ("yes" if row["met"] else "no")])
    out.append(table(rows, "lrrll"))
    out.append("(every feature on: key check, limits with token reservations, tags, budget, health, audit; "
               "req/s vs the peer only with --peer)")
    out.append("")

    gateways = [t for t in targets if t not in ("direct", "hop")]
    rows = [["ratios (same run)", "json", "stream", "goal"]]
    rows.append(["hop added p50, c=1 (ms)", ms(ratios["json"]["hop_added_p50_us_c1"]),
                 ms(ratios["stream"]["hop_added_p50_us_c1"]), ""])
    for g in gateways:
        rows.append([f"{g} added p50, c=1 (ms)", ms(ratios["json"].get(f"{g}_added_p50_us_c1")),
                     ms(ratios["stream"].get(f"{g}_added_p50_us_c1")), ""])
        rows.append([f"latency ratio {g}/hop, c=1", fx(ratios["json"].get(f"{g}_latency_ratio_c1"), 1, "x"),
                     fx(ratios["stream"].get(f"{g}_latency_ratio_c1"), 1, "x"), "<= 3x"])
        rows.append([f"throughput ratio {g}/hop, c=64", fx(ratios["json"].get(f"{g}_throughput_ratio_c64"), 2),
                     fx(ratios["stream"].get(f"{g}_throughput_ratio_c64"), 2), ">= 0.5"])
    for g in gateways:
        rows.append([f"stream TTFB added, {g} (ms)", "", fx(ratios["stream_ttfb_added_ms"].get(g), 3), "< 1"])
    out.append(table(rows, "lrrl"))
    out.append("")

    rows = [["CPU per request, c=64 (us)", "mock", "nginx", "pool", "redis", "total"]]
    for run in sorted(runs, key=lambda r: (r["kind"] != "json", order.get(r["target"], 9))):
        cpu = run.get("cpu_us_per_request")
        if run["concurrency"] != 64 or not cpu or not run["ok"]:
            continue
        nginx = cpu.get("gateway" if run["target"] == "sluice" else "hop")
        pool = cpu.get("pool") if run["target"] == "sluice" else None
        redis = cpu.get("redis") if run["target"] == "sluice" else None
        parts = [cpu.get("mock"), nginx, pool, redis]
        rows.append([f"{run['target']} {run['kind']}"] + [fx(v, 0) for v in parts]
                    + [fx(sum(v for v in parts if v is not None), 0)])
    if len(rows) > 1:
        out.append(table(rows, "lrrrrr"))
        out.append("(CPU time of each process group over the run, per request; wrk's own is not counted)")
        out.append("")

    for run in sorted(runs, key=lambda r: r["kind"] != "json"):
        stats = run.get("redis_commands_per_request")
        if run["concurrency"] != 64 or not stats or not run["ok"]:
            continue
        rows = [[f"Redis per request, {run['target']} {run['kind']} c=64", "calls", "us"]]
        for name, v in sorted(stats.items(), key=lambda kv: -kv[1]["usec"]):
            rows.append([name, f"{v['calls']:.2f}", f"{v['usec']:.1f}"])
        out.append(table(rows, "lrr"))
        out.append("(Redis INFO commandstats over the run: a command a script runs counts on its own line "
                   "and in the script's time)")
        out.append("")

    for kind, split in (by_script or {}).items():
        if not split or not split["scripts"]:
            continue
        rows = [[f"Redis per request by script, sluice {kind} c=64", "calls", "us", "us/call"]]
        for name, v in sorted(split["scripts"].items(), key=lambda kv: -kv[1]["usec"]):
            rows.append([name, f"{v['calls']:.2f}", f"{v['usec']:.1f}", f"{v['usec_per_call']:.1f}"])
        rows.append(["all scripts", f"{sum(v['calls'] for v in split['scripts'].values()):.2f}",
                     f"{sum(v['usec'] for v in split['scripts'].values()):.1f}", ""])
        out.append(table(rows, "lrrr"))
        out.append(f"(SLOWLOG of a separate 1 s run, {split['requests']} requests: each script call's time, "
                   f"its own commands included; it caught {split['caught']} of the {split['ran']} script calls "
                   "INFO commandstats counted"
                   + ("" if split["complete"] else "; !! the log filled up") + ")")
        out.append("")

    if floor:
        out.extend(render_floor(floor))

    def mb(kb):
        return "?" if kb is None else f"{kb / 1024:.1f} MB"
    growth = memory["growth_kb"]
    out.append(f"pool memory (RSS, master + workers): at start {mb(memory.get('start_kb'))}, "
               f"after the warm-up {mb(memory['before_kb'])} "
               f"({memory['processes_before']} processes), after {mb(memory['after_kb'])} "
               f"({memory['processes_after']} processes), "
               f"change {'?' if growth is None else f'{growth / 1024:+.1f} MB'}  (goal: flat)")
    bad = [r for r in runs if not r["ok"] or r["errors"]["total"]]
    if bad:
        out.append(f"!! {len(bad)} run(s) failed or saw errors: their numbers are not comparable")
        for r in bad:
            if not r["ok"]:
                out.append(f"   {r['target']} {r['kind']} c={r['concurrency']}: {r.get('failure', '')}")
    if meta.get("sluice_log_problems", "0") not in ("", "0"):
        out.append(f"!! sluice.log has {meta['sluice_log_problems']} warning/error line(s)")
    return "\n".join(out)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    work, out_json = sys.argv[1:]
    meta = read_meta(work)
    runs = read_runs(work, num(meta, "clock_ticks", int))
    ttfb = read_ttfb(work)
    targets, ratios, memory, goals = compute(runs, ttfb, meta)
    by_script = {kind: redis_by_script(work, kind) for kind in ("json", "stream")}
    direct_c1 = find(runs, "direct", "json", 1)
    floor = read_floor(work, num(meta, "clock_ticks", int),
                       direct_c1["latency_us"].get("p50") if direct_c1 else None)
    print(render(meta, runs, ttfb, targets, ratios, memory, by_script, floor))

    doc = {
        "schema": "sluice-bench/1",
        "started_at": meta.get("started_at"),
        "finished_at": meta.get("finished_at"),
        "settings": {"duration": meta.get("duration"), "duration_s": num(meta, "duration_s", int),
                     "quick": meta.get("quick") == "1", "warmup": meta.get("warmup"),
                     "concurrency": [int(c) for c in meta.get("concurrency", "").split()],
                     "ttfb_samples": num(meta, "ttfb_samples", int),
                     "ttfb_method": "curl time_starttransfer, one connection reused, median",
                     "workers": num(meta, "workers", int), "threads": num(meta, "threads", int)},
        "host": {"cores": num(meta, "cores", int), "load_before": meta.get("load_before"),
                 "load_after": meta.get("load_after"), "kernel": meta.get("kernel"),
                 "nginx": meta.get("nginx_version"), "wrk": meta.get("wrk_version"),
                 "redis": meta.get("redis_version"), "sluice_binary": meta.get("sluice_bin"),
                 "sluice_binary_mtime": meta.get("sluice_bin_mtime"),
                 "floor_binary_mtime": meta.get("floor_bin_mtime")},
        "targets": {t: meta.get(f"url_{t}") for t in targets},
        "runs": runs,
        "ttfb": ttfb,
        "memory": memory,
        "redis_by_script": by_script,
        "ratios": ratios,
        "goals": goals,
        "budget": budget(runs, ratios, memory),
        "sluice_log_problems": num(meta, "sluice_log_problems", int),
        "floor": floor,
    }
    os.makedirs(os.path.dirname(os.path.abspath(out_json)), exist_ok=True)
    with open(out_json, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    floor_ok = not floor or (not floor["failed"]
                             and all(v["ok"] for runs in floor["shapes"].values() for v in runs.values()))
    sys.exit(0 if all(r["ok"] for r in runs) and floor_ok else 3)


if __name__ == "__main__":
    main()
