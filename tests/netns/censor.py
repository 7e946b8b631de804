"""The censor's on-path injector: reads the packets that firewall.sh's iptables rules put on an
NFQUEUE and forges packets from a raw socket, as a box that watches the wire does.

- UDP DNS queries (every query crossing the border is queued): for a censored name, a forged A
  answer spoofed from the queried address is sent at once, and the real query is held for
  --hold-ms before it goes on, standing in for the distance between the censor and the resolver,
  so the forged answer wins the race and the real one (if the address runs a resolver) follows.
  Other queries go on untouched.
- TCP segments (queued only when iptables' string match saw a keyword): the segment is dropped
  and, by the first keyword found in it,
    --rst KW           RST to the server (spoofed from the client) and RST/ACK to the client;
    --page KW=FILE     an HTTP response carrying FILE's bytes plus FIN to the client, RST to the server;
    --redirect KW=URL  a 302 to URL plus FIN to the client, RST to the server.
- TCP segments from --delay ADDR=MS (queued for that address): held MS before they go on, a
  long link rather than a censor (netem stands in for this where the kernel has it).

No scapy: headers are packed by hand. Needs python-netfilterqueue (PyPI) and CAP_NET_ADMIN/RAW.
"""

import argparse
import heapq
import itertools
import select
import socket
import struct
import sys
import time

from netfilterqueue import NetfilterQueue


def log(msg):
    print("%.3f %s" % (time.monotonic(), msg), flush=True)


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto, 0, src, dst)
    return hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:] + payload


def tcp_segment(src, dst, sport, dport, seq, ack, flags, data=b""):
    th = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0) + data
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(th))
    th = th[:16] + struct.pack("!H", checksum(pseudo + th)) + th[18:]
    return ipv4(src, dst, socket.IPPROTO_TCP, th)


FIN, RST, PSH, ACK = 0x01, 0x04, 0x08, 0x10


def parse_query(pkt):
    """(src, dst, sport, id, flags, qname, qtype, question) of a DNS query in an IPv4/UDP packet."""
    if len(pkt) < 28 or pkt[0] >> 4 != 4 or pkt[9] != socket.IPPROTO_UDP:
        return None
    ihl = (pkt[0] & 15) * 4
    sport, dport = struct.unpack("!HH", pkt[ihl : ihl + 4])
    dns = pkt[ihl + 8 :]
    if dport != 53 or len(dns) < 17 or dns[2] & 0x80:
        return None
    i, labels = 12, []
    while i < len(dns) and dns[i]:
        if dns[i] & 0xC0:
            return None
        labels.append(dns[i + 1 : i + 1 + dns[i]])
        i += 1 + dns[i]
    if i + 5 > len(dns):
        return None
    qtype = struct.unpack("!H", dns[i + 1 : i + 3])[0]
    return dict(src=pkt[12:16], dst=pkt[16:20], sport=sport, id=dns[:2], rd=dns[2] & 1,
                qname=b".".join(labels).lower().decode("ascii", "replace"), qtype=qtype,
                question=dns[12 : i + 5])


def forged_answer(q, addr):
    dns = q["id"] + bytes([0x80 | q["rd"], 0x80]) + struct.pack("!HHHH", 1, 1, 0, 0) + q["question"]
    dns += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + socket.inet_aton(addr)
    udp = struct.pack("!HHHH", 53, q["sport"], 8 + len(dns), 0) + dns
    return ipv4(q["dst"], q["src"], socket.IPPROTO_UDP, udp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queue", type=int, default=0)
    ap.add_argument("--hold-ms", type=float, default=50)
    ap.add_argument("--dns", action="append", default=[], metavar="NAME=ADDR")
    ap.add_argument("--rst", action="append", default=[], metavar="KW")
    ap.add_argument("--page", action="append", default=[], metavar="KW=FILE")
    ap.add_argument("--redirect", action="append", default=[], metavar="KW=URL")
    ap.add_argument("--delay", action="append", default=[], metavar="ADDR=MS")
    a = ap.parse_args()

    lies = dict(x.split("=", 1) for x in a.dns)
    actions = [(kw.lower().encode(), ("rst", None)) for kw in a.rst]
    for x in a.page:
        kw, path = x.split("=", 1)
        with open(path, "rb") as f:
            body = f.read()
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        actions.append((kw.lower().encode(), ("page", head + body)))
    for x in a.redirect:
        kw, url = x.split("=", 1)
        resp = b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % url.encode()
        actions.append((kw.lower().encode(), ("page", resp)))

    delays = {socket.inet_aton(x.split("=", 1)[0]): float(x.split("=", 1)[1]) / 1000 for x in a.delay}

    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    held, order = [], itertools.count()

    def send(pkt):
        raw.sendto(pkt, (socket.inet_ntoa(pkt[16:20]), 0))

    def lied_for(qname):
        for name, addr in lies.items():
            if qname == name or qname.endswith("." + name):
                return addr
        return None

    def on_packet(p):
        pkt = p.get_payload()
        if len(pkt) >= 20 and pkt[12:16] in delays:
            p.retain()
            heapq.heappush(held, (time.monotonic() + delays[pkt[12:16]], next(order), p))
            return
        if len(pkt) >= 20 and pkt[9] == socket.IPPROTO_UDP:
            q = parse_query(pkt)
            addr = lied_for(q["qname"]) if q else None
            if addr is None or q["qtype"] != 1:
                return p.accept()
            send(forged_answer(q, addr))
            log("dns forged %s A %s to %s from %s" % (q["qname"], addr, socket.inet_ntoa(q["src"]), socket.inet_ntoa(q["dst"])))
            p.retain()
            heapq.heappush(held, (time.monotonic() + a.hold_ms / 1000, next(order), p))
            return
        if len(pkt) < 40 or pkt[9] != socket.IPPROTO_TCP:
            return p.accept()
        ihl = (pkt[0] & 15) * 4
        sport, dport, seq, ack, off = struct.unpack("!HHIIB", pkt[ihl : ihl + 13])
        data = pkt[ihl + (off >> 4) * 4 :]
        low = data.lower()
        act = next((act for kw, act in actions if kw in low), None)
        if not data or act is None:
            return p.accept()
        client, server = pkt[12:16], pkt[16:20]
        end = seq + len(data)
        send(tcp_segment(client, server, sport, dport, seq, 0, RST))
        kind, payload = act
        if kind == "rst":
            send(tcp_segment(server, client, dport, sport, ack, end, RST | ACK))
        else:
            send(tcp_segment(server, client, dport, sport, ack, end, PSH | ACK | FIN, payload))
        p.drop()
        log("tcp %s %s:%d -> %s:%d" % (kind, socket.inet_ntoa(client), sport, socket.inet_ntoa(server), dport))

    nfq = NetfilterQueue()
    nfq.bind(a.queue, on_packet)
    fd = nfq.get_fd()
    log("ready")
    try:
        while True:
            wait = max(0.0, held[0][0] - time.monotonic()) if held else None
            if select.select([fd], [], [], wait)[0]:
                nfq.run(block=False)
            while held and held[0][0] <= time.monotonic():
                heapq.heappop(held)[2].accept()
    except KeyboardInterrupt:
        pass
    finally:
        nfq.unbind()


if __name__ == "__main__":
    sys.exit(main())
