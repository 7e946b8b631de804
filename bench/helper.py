#!/usr/bin/env python3
"""Helpers for bench/run.sh (standard library only).

  gen DIR N PORT            write the nginx server blocks, the 5 KB pages, the URL list and curl's config
  portfree TCP|UDP PORT     exit 1 when 127.0.0.1:PORT is already taken
  dns SERVER_PORT NAME      ask 127.0.0.1:SERVER_PORT for NAME's A and AAAA; exit 1 unless A is
                            127.0.0.1 and AAAA is an empty NOERROR answer (no timeout)
  cputicks PID...           user+system CPU seconds of these processes so far
  check-vantage DIR N MIN   count records and HTTP 200s in the one .jsonl file under DIR
  check-curl FILE N MIN     count the 200s in curl's -w output
  report RESULTS_JSON       print the table and the ratios
"""

import json
import os
import random
import socket
import struct
import sys


def gen(out, n, port):
    n, port = int(n), int(port)
    www = os.path.join(out, "www")
    os.makedirs(www, exist_ok=True)
    filler = (
        "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
        "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
        "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.</p>\n"
    )
    servers, urls, curl_cfg = [], [], []
    for i in range(1, n + 1):
        name = f"site{i:04d}.bench.test"
        head = (
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>Bench site {i:04d}</title></head>\n<body>\n<h1>{name}</h1>\n"
        )
        tail = "</body></html>\n"
        body = head
        while len(body) + len(filler) + len(tail) + 8 <= 5120:
            body += filler
        body += "<!--" + "x" * (5120 - len(body) - len(tail) - 8) + "-->\n" + tail
        assert len(body.encode()) == 5120, len(body)
        root = os.path.join(www, f"site{i:04d}")
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write(body)
        servers.append(
            f"server {{ listen 127.0.0.1:{port} ssl; server_name {name}; root {root}; index index.html; }}\n"
        )
        url = f"https://{name}:{port}/"
        urls.append(url + "\n")
        curl_cfg.append(f'url = "{url}"\noutput = "/dev/null"\n')
    with open(os.path.join(out, "sites.conf"), "w") as f:
        f.writelines(servers)
    with open(os.path.join(out, "urls.txt"), "w") as f:
        f.writelines(urls)
    with open(os.path.join(out, "curl.cfg"), "w") as f:
        f.writelines(curl_cfg)


def portfree(proto, port):
    kind = socket.SOCK_STREAM if proto.upper() == "TCP" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    if kind == socket.SOCK_STREAM:
        # As nginx does: connections in TIME_WAIT from an earlier run do not hold the port.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(port)))
    except OSError as e:
        print(f"127.0.0.1:{port}/{proto} is taken: {e}", file=sys.stderr)
        return 1
    finally:
        s.close()
    return 0


def _query(port, name, qtype):
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        s.sendto(q, ("127.0.0.1", int(port)))
        data, _ = s.recvfrom(4096)
    except socket.timeout:
        return None, []
    finally:
        s.close()
    rid, flags, qd, an, _, _ = struct.unpack(">HHHHHH", data[:12])
    if rid != qid:
        return None, []
    rcode = flags & 0xF
    # Skip the question, then read the answers' type and rdata (names here are compressed pointers
    # or plain labels; handle both).
    pos = 12

    def skip_name(p):
        while True:
            ln = data[p]
            if ln == 0:
                return p + 1
            if ln & 0xC0 == 0xC0:
                return p + 2
            p += 1 + ln

    for _ in range(qd):
        pos = skip_name(pos) + 4
    answers = []
    for _ in range(an):
        pos = skip_name(pos)
        rtype, _, _, rdlen = struct.unpack(">HHIH", data[pos:pos + 10])
        pos += 10
        rdata = data[pos:pos + rdlen]
        pos += rdlen
        if rtype == 1:
            answers.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif rtype == 28:
            answers.append(socket.inet_ntop(socket.AF_INET6, rdata))
    return rcode, answers


def dns(port, name):
    a = _query(port, name, 1)
    aaaa = _query(port, name, 28)
    print(f"dns check {name}: A rcode={a[0]} {a[1]}; AAAA rcode={aaaa[0]} {aaaa[1]}")
    if a != (0, ["127.0.0.1"]):
        return 1
    if aaaa != (0, []):
        print("AAAA must be an empty NOERROR answer", file=sys.stderr)
        return 1
    return 0


def cputicks(*pids):
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    print(f"{total / tick:.2f}")
    return 0


def check_vantage(d, n, minimum):
    files = [os.path.join(r, f) for r, _, fs in os.walk(d) for f in fs if f.endswith(".jsonl")]
    if len(files) != 1:
        print(f"want one .jsonl file under {d}, found {files}", file=sys.stderr)
        print(json.dumps({"lines": 0, "ok": 0}))
        return 1
    lines = ok = 0
    statuses, failures = {}, {}
    with open(files[0]) as f:
        for line in f:
            lines += 1
            rec = json.loads(line)
            tk = rec["test_keys"]
            st = (tk.get("x_verdict") or {}).get("status")
            statuses[st] = statuses.get(st, 0) + 1
            reqs = tk.get("requests") or []
            resp = reqs[0].get("response") if reqs else None
            if resp and resp.get("code") == 200 and resp.get("x_body_length") == 5120:
                ok += 1
            else:
                why = (reqs[0].get("failure") if reqs else None) or "no request"
                for step in ("queries", "tcp_connect", "tls_handshakes"):
                    for e in tk.get(step) or []:
                        fl = e.get("failure") or (e.get("status") or {}).get("failure")
                        if fl:
                            why = f"{step}: {fl}"
                failures[str(why)] = failures.get(str(why), 0) + 1
    print(
        f"  records: {lines} (want {n}); response 200 with the 5120-byte page: {ok}; "
        f"x_verdict.status: {json.dumps(statuses, sort_keys=True)}",
        file=sys.stderr,
    )
    if failures:
        print(f"  failures: {json.dumps(failures, sort_keys=True)}", file=sys.stderr)
    print(json.dumps({"lines": lines, "ok": ok}))
    return 0 if lines == int(n) and ok >= int(minimum) else 1


def check_curl(path, n, minimum):
    codes = {}
    with open(path) as f:
        for line in f:
            c = line.strip()
            if c:
                codes[c] = codes.get(c, 0) + 1
    total = sum(codes.values())
    ok = codes.get("200", 0)
    print(f"  transfers: {total} (want {n}); HTTP codes: {json.dumps(codes, sort_keys=True)}", file=sys.stderr)
    print(json.dumps({"lines": total, "ok": ok}))
    return 0 if total == int(n) and ok >= int(minimum) else 1


def parse_time_v(path):
    """Wall seconds, CPU seconds (user+sys) and max RSS KiB from GNU time -v's report."""
    vals = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.strip().rpartition(": ")
            vals[key] = value
    wall = 0.0
    for part in vals["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":"):
        wall = wall * 60 + float(part)
    cpu = float(vals["User time (seconds)"]) + float(vals["System time (seconds)"])
    return wall, cpu, int(vals["Maximum resident set size (kbytes)"]), vals["Exit status"]


def report(results_path):
    with open(results_path) as f:
        results = json.load(f)
    rows = []
    for r in results:
        wall, cpu, rss, status = parse_time_v(r["time_file"])
        n = r["urls"]
        rows.append({
            "tool": r["tool"], "urls": n, "ok": r["ok"], "wall": wall,
            "rate": n / wall if wall else float("inf"),
            "cpu": cpu, "cpu_per_k": cpu * 1000 / n, "rss": rss / 1024,
            "server_cpu": r.get("server_cpu"), "exit": status,
        })
    head = (f"{'tool':<36} {'URLs':>5} {'200 OK':>6} {'seconds':>8} {'URLs/s':>8} "
            f"{'CPU s/1000 URLs':>15} {'peak RSS MiB':>12} {'server CPU s':>12}")
    print(head)
    print("-" * len(head))
    for r in rows:
        sc = "" if r["server_cpu"] is None else f"{r['server_cpu']:.2f}"
        print(f"{r['tool']:<36} {r['urls']:>5} {r['ok']:>6} {r['wall']:>8.2f} {r['rate']:>8.1f} "
              f"{r['cpu_per_k']:>15.3f} {r['rss']:>12.1f} {sc:>12}")
    curl = next(r for r in rows if r["tool"].startswith("curl"))
    print()
    print("ratios vantage/curl (goal: URLs/s >= 1.00 and CPU per URL <= 1.00)")
    print(f"{'variant':<36} {'URLs/s':>8} {'CPU/URL':>8} {'peak RSS':>9}  goal met?")
    for r in rows:
        if r is curl:
            continue
        rate = r["rate"] / curl["rate"]
        cpu = r["cpu_per_k"] / curl["cpu_per_k"] if curl["cpu_per_k"] else float("inf")
        rss = r["rss"] / curl["rss"]
        met = "yes" if rate >= 1.0 and cpu <= 1.0 else "no"
        print(f"{r['tool']:<36} {rate:>8.2f} {cpu:>8.2f} {rss:>9.2f}  {met}")
    return 0


def main(argv):
    cmds = {
        "gen": gen, "portfree": portfree, "dns": dns, "cputicks": cputicks,
        "check-vantage": check_vantage, "check-curl": check_curl, "report": report,
    }
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[argv[1]](*argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
