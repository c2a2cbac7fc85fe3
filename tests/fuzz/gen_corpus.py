#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets to tests/fuzz/corpus/<target>/.

A handful of valid inputs per target, built by hand (no protobuf or DNS
library needed). The output is committed; run this again after changing it:
    python3 tests/fuzz/gen_corpus.py [TARGET...]
(only the targets named, every one without a name: a target's directory is
written anew, so an input worth keeping, such as one the fuzzer found, goes
into its target's function here).
"""
import base64
import hashlib
import hmac
import os
import shutil
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ZONE = "services.lon6.example.net."


# ---- DNS: one control octet (fuzz_dns.c), then the query ----
def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def opt(udp=1232, options=b"", do=False, version=0):
    ttl = (version << 16) | (0x8000 if do else 0)
    return b"\0" + struct.pack(">HHIH", 41, udp, ttl, len(options)) + options


def option(code, data):
    return struct.pack(">HH", code, len(data)) + data


def query(qname, qtype, edns=None, qid=0x1234, flags=0x0100):
    q = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 1 if edns is not None else 0)
    q += name(qname) + struct.pack(">HH", qtype, 1)
    return q + (edns or b"")


def ixfr(serial):
    q = bytearray(query(ZONE, 251))
    q[9] = 1  # NSCOUNT
    rdata = name("ns1.example.net.") + b"\xc0\x0c" + struct.pack(">IIIII", serial, 60, 30, 9, 5)
    return bytes(q) + b"\xc0\x0c" + struct.pack(">HHIH", 6, 1, 0, len(rdata)) + rdata


# TSIG (RFC 8945 4.3.3), signed as fuzz_dns.c's engines verify it: the key
# fuzz-key. (hmac-sha256, FUZZ_TSIG_SECRET there) at its WALL_BASE.
WALL_BASE = 1700000000
FUZZ_KEY = ("fuzz-key.", "ZnV6ei1rZXktc2VjcmV0LWZvci1yb3N0ZXJkLXRzaWc=", "hmac-sha256")
OTHER_KEY = ("other.", "AAEC", "hmac-sha512")   # known, not --xfr-key
UNKNOWN_KEY = ("nobody.", "AAEC", "hmac-sha256")


def tsig(msg, key=FUZZ_KEY, when=WALL_BASE, fudge=300):
    """@p msg with a TSIG RR appended and ARCOUNT counted."""
    kname, secret, alg = key
    digest = hashlib.sha512 if alg == "hmac-sha512" else hashlib.sha256
    variables = (name(kname) + struct.pack(">HI", 255, 0) + name(alg) +
                 struct.pack(">HIHHH", when >> 32, when & 0xffffffff, fudge, 0, 0))
    mac = hmac.new(base64.b64decode(secret), msg + variables, digest).digest()
    rdata = (name(alg) + struct.pack(">HIHH", when >> 32, when & 0xffffffff, fudge, len(mac)) +
             mac + msg[:2] + struct.pack(">HH", 0, 0))
    ar = struct.unpack(">H", msg[10:12])[0] + 1
    return (msg[:10] + struct.pack(">H", ar) + msg[12:] + name(kname) +
            struct.pack(">HHIH", 250, 255, 0, len(rdata)) + rdata)


CLIENT = bytes(range(1, 9))
UDP, TCP, V6, MAPPED, NOADDR, ROUNDTRIP = 0, 1, 2, 4, 6, 8


def dns_seeds():
    s = {}
    s["srv_udp"] = bytes([UDP]) + query("_web._tcp." + ZONE, 33)
    s["srv_edns_do_tcp"] = bytes([TCP]) + query("_web._tcp." + ZONE, 33, opt(do=True))
    s["a_host"] = bytes([UDP | V6]) + query("web." + ZONE, 1, opt(4096))
    s["aaaa_host"] = bytes([TCP | MAPPED]) + query("web." + ZONE, 28, opt())
    s["txt_ring"] = bytes([TCP]) + query("_ring._web._tcp." + ZONE, 16, opt())
    s["txt_status"] = bytes([UDP]) + query("_status." + ZONE, 16, opt())
    s["a_big_udp"] = bytes([UDP]) + query("big." + ZONE, 1)
    s["soa_apex"] = bytes([UDP | NOADDR]) + query(ZONE, 6)
    s["ns_apex"] = bytes([TCP]) + query(ZONE, 2, opt(512))
    s["any_udp"] = bytes([UDP]) + query("_web._tcp." + ZONE, 255, opt())
    s["big_udp_tc"] = bytes([UDP]) + query("_big._tcp." + ZONE, 33, opt(1232))
    s["big_tcp_partial"] = bytes([TCP]) + query("_big._tcp." + ZONE, 33, opt())
    s["nxdomain"] = bytes([UDP]) + query("_none._udp." + ZONE, 33)
    s["refused"] = bytes([UDP]) + query("www.example.com.", 1)
    s["report"] = bytes([UDP]) + query("e42.v1-2.android.n0nce.errors.example.net.", 1)
    s["axfr_tcp"] = bytes([TCP]) + query(ZONE, 252)
    s["axfr_tcp_v6"] = bytes([TCP | V6]) + query(ZONE, 252, opt())
    s["axfr_tcp_denied"] = bytes([TCP | NOADDR]) + query(ZONE, 252)
    # IXFR: the client's SOA in the authority section (RFC 1995 3).
    for serial, tag in ((1, "old"), (0xffffffff, "ahead")):
        for tr, tn in ((TCP, "tcp"), (UDP, "udp")):
            s["ixfr_%s_%s" % (tn, tag)] = bytes([tr]) + ixfr(serial)
    s["badvers"] = bytes([UDP]) + query(ZONE, 6, opt(version=1))
    s["cookie_client"] = bytes([UDP]) + query(ZONE, 6, opt(options=option(10, CLIENT)))
    # A client cookie with a server cookie we did not make: the harness asks
    # again with the one it is given (good), aged by the high nibble.
    srvc = bytes([1, 0, 0, 0]) + bytes(12)
    for age in (0, 7, 13):
        s["cookie_roundtrip_%d" % age] = bytes([UDP | ROUNDTRIP | age << 4]) + query(
            "_web._tcp." + ZONE, 33, opt(options=option(10, CLIENT + srvc)))
    cookie_only = struct.pack(">HHHHHH", 0x4242, 0, 0, 0, 0, 1) + opt(
        options=option(10, CLIENT + srvc))
    s["cookie_only"] = bytes([TCP | ROUNDTRIP]) + cookie_only
    s["keepalive_tcp"] = bytes([TCP]) + query(ZONE, 6, opt(options=option(11, b"")))
    s["padding_ecs"] = bytes([UDP]) + query(ZONE, 6, opt(
        options=option(12, bytes(8)) + option(8, bytes([0, 1, 24, 0, 192, 0, 2]))))
    s["notimp_opcode"] = bytes([UDP]) + query(ZONE, 6, flags=0x2800)
    # TSIG. An ID with the top bit set asks the engine that requires
    # --xfr-key fuzz-key. for transfers (fuzz_dns.c).
    keyed = 0x9234
    s["tsig_soa_udp"] = bytes([UDP]) + tsig(query(ZONE, 6, opt()))
    s["tsig_srv_big_udp"] = bytes([UDP]) + tsig(query("_big._tcp." + ZONE, 33))
    s["tsig_other_key_tcp"] = bytes([TCP]) + tsig(query(ZONE, 6), OTHER_KEY)
    s["tsig_axfr_tcp"] = bytes([TCP]) + tsig(query(ZONE, 252, opt()))
    s["tsig_axfr_keyed"] = bytes([TCP]) + tsig(query(ZONE, 252, qid=keyed))
    s["tsig_axfr_keyed_unsigned"] = bytes([TCP]) + query(ZONE, 252, qid=keyed)
    s["tsig_axfr_keyed_other"] = bytes([TCP]) + tsig(query(ZONE, 252, qid=keyed), OTHER_KEY)
    s["tsig_axfr_keyed_badkey"] = bytes([TCP]) + tsig(query(ZONE, 252, qid=keyed),
                                                      UNKNOWN_KEY)
    s["tsig_axfr_keyed_stale"] = bytes([TCP]) + tsig(query(ZONE, 252, qid=keyed),
                                                     when=WALL_BASE - 1000)
    bad = bytearray(tsig(query(ZONE, 252, qid=keyed)))
    bad[-10] ^= 1  # a MAC octet
    s["tsig_axfr_keyed_badsig"] = bytes([TCP]) + bytes(bad)
    s["tsig_axfr_keyed_outside"] = bytes([TCP | NOADDR]) + tsig(query(ZONE, 252, qid=keyed))
    ix = bytearray(ixfr(1))
    ix[0] = keyed >> 8
    s["tsig_ixfr_keyed_tcp"] = bytes([TCP]) + tsig(bytes(ix))
    s["tsig_ixfr_keyed_udp"] = bytes([UDP]) + tsig(bytes(ix))
    # The harness asks again aged by the high nibble: BADTIME from 300 s on.
    s["tsig_cookie_aged"] = bytes([UDP | ROUNDTRIP | 2 << 4]) + tsig(
        query(ZONE, 6, opt(options=option(10, CLIENT + srvc))))
    return s


# ---- io_uring receive buffers: one control octet (fuzz_recv.c), then a
# provided buffer as a multishot recvmsg fills it (struct dnsio_recv_out,
# then the name, control and payload areas; x86-64 Linux layouts) ----
RECV_NAME, RECV_CONTROL = 128, 40  # sockaddr_storage, CMSG_SPACE(in6_pktinfo)
MSG_CTRUNC, MSG_TRUNC = 0x08, 0x20
AS_IS, AS_SAID, SHORTER, PAST = 0, 1, 2, 3  # the CQE's result (fuzz_recv.c)


def sin(addr, port=5353):
    return struct.pack("<H", 2) + struct.pack(">H", port) + socket.inet_pton(
        socket.AF_INET, addr) + bytes(8)


def sin6(addr, port=5353):
    return (struct.pack("<H", 10) + struct.pack(">HI", port, 0) +
            socket.inet_pton(socket.AF_INET6, addr) + struct.pack("<I", 0))


def cmsg(level, ctype, data):
    """One control message as the kernel writes it, padded to CMSG_SPACE."""
    msg = struct.pack("<Qii", 16 + len(data), level, ctype) + data
    return msg + bytes(-len(msg) % 8)


def pktinfo(dst, ifindex=2):
    addr = socket.inet_pton(socket.AF_INET, dst)
    return cmsg(0, 8, struct.pack("<i", ifindex) + addr + addr)  # IPPROTO_IP, IP_PKTINFO


def pktinfo6(dst, ifindex=2):
    data = socket.inet_pton(socket.AF_INET6, dst) + struct.pack("<I", ifindex)
    return cmsg(41, 50, data)  # IPPROTO_IPV6, IPV6_PKTINFO


def recv_buf(sa, control, payload, flags=0, payloadlen=None, mode=AS_IS):
    """The buffer: the header's lengths are the ones received (payloadlen
    may claim more than the payload area holds)."""
    plen = len(payload) if payloadlen is None else payloadlen
    head = struct.pack("<IIII", len(sa), len(control), plen, flags)
    return (bytes([mode]) + head + sa + bytes(RECV_NAME - len(sa)) + control +
            bytes(RECV_CONTROL - len(control)) + payload)


def recv_seeds():
    srv = query("_web._tcp." + ZONE, 33, opt())
    v4, v6 = sin("192.0.2.7"), sin6("2001:db8::7")
    s = {}
    s["v4_pktinfo_srv"] = recv_buf(v4, pktinfo("192.0.2.1"), srv)
    s["v6_pktinfo_srv"] = recv_buf(v6, pktinfo6("2001:db8::1"), srv)
    s["v6_linklocal_pktinfo"] = recv_buf(sin6("fe80::7"), pktinfo6("fe80::1", 3),
                                         query(ZONE, 6, opt()))
    s["v4_no_control"] = recv_buf(v4, b"", query("_web._tcp." + ZONE, 33))
    s["v6_no_control_cookie"] = recv_buf(v6, b"", query(ZONE, 6, opt(
        options=option(10, CLIENT))))
    s["v4_big_subset"] = recv_buf(v4, pktinfo("192.0.2.1"), query("_big._tcp." + ZONE, 33))
    s["v4_header_says"] = recv_buf(v4, pktinfo("192.0.2.1"), srv, mode=AS_SAID)
    # A datagram larger than the payload area: MSG_TRUNC, and the CQE's
    # result the whole buffer (the input is zero-padded to it).
    s["msg_trunc"] = recv_buf(v4, b"", srv, MSG_TRUNC, 5000, AS_SAID)
    # The payload cut short by the CQE's result, without the flag.
    s["payload_short"] = recv_buf(v6, b"", srv, mode=SHORTER | 3 << 2)
    # The control area cut short: the message is not used, the query answered.
    s["msg_ctrunc"] = recv_buf(v6, pktinfo6("2001:db8::1")[:24], srv, MSG_CTRUNC)
    s["past_buffer"] = recv_buf(v4, b"", srv, mode=PAST)
    s["no_name"] = recv_buf(b"", b"", srv)
    return s


# ---- protobuf, by hand ----
def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def request(rid, op_num, body):
    return f_varint(1, rid) + f_bytes(op_num, body)


def frame(msg):
    return struct.pack(">I", len(msg)) + msg


def instance(svc, proto, host, port, addrs=(), meta=(), status=None):
    b = f_bytes(1, svc) + f_bytes(2, proto) + f_bytes(3, host) + f_varint(4, port)
    for a in addrs:
        b += f_bytes(5, a)
    b += f_varint(7, 10)
    for k, v in meta:
        b += f_bytes(8, f_bytes(1, k) + f_bytes(2, v))
    if status is not None:
        b += f_varint(9, status)
    return b


def instance_id(svc, proto, host, port):
    return f_bytes(1, svc) + f_bytes(2, proto) + f_bytes(3, host) + f_varint(4, port)


def api_seeds():
    web = instance("web", "tcp", "web1.lon6.example.net", 8080, ["10.0.0.1", "2001:db8::1"],
                   [("path", "/v1")])
    open_lease = request(1, 10, f_varint(1, 30))
    reg_leased = request(2, 12, f_bytes(1, web) + f_varint(2, 1))  # lease ids are 1, 2...
    reg_perm = request(3, 12, f_bytes(1, instance("db", "tcp", "db1.example.net", 5432,
                                                  status=1)))
    heartbeat = request(4, 11, f_varint(1, 1))
    watch = request(5, 17, f_bytes(1, "web"))
    set_status = request(6, 14, f_bytes(1, instance_id("web", "tcp", "web1.lon6.example.net",
                                                       8080)) + f_varint(2, 3))
    query_ = request(7, 15, f_bytes(1, "web") + f_varint(3, 1))
    list_ = request(8, 16, b"")
    stats = request(9, 18, b"")
    dereg = request(10, 13, f_bytes(1, instance_id("db", "tcp", "db1.example.net", 5432)))
    close_lease = request(11, 13, f_varint(2, 1))
    cancel = request(12, 19, f_varint(1, 5))
    chunk = b"\0\0"  # two chunking-seed octets (fuzz_api.c)
    s = {}
    s["session"] = chunk + b"".join(frame(m) for m in (
        open_lease, reg_leased, reg_perm, heartbeat, watch, set_status, query_, list_, stats,
        dereg, cancel, close_lease))
    s["watch_replay"] = b"\x12\x34" + b"".join(frame(m) for m in (
        reg_perm, request(1, 17, f_varint(2, 1)), reg_leased, open_lease, reg_leased))
    s["bad_values"] = b"\x00\x07" + b"".join(frame(m) for m in (
        request(1, 12, f_bytes(1, instance("we b", "tcp", "h", 0))),
        request(2, 12, f_bytes(1, instance("web", "tcp", "h.example", 80, ["not-an-ip"]))),
        request(3, 10, f_varint(1, 99999)),
        request(4, 11, f_varint(1, 77)),
        request(5, 99, b""),
    ))
    s["malformed_then_ok"] = b"\x01\x00" + frame(b"\xff\xff\xff") + frame(stats)
    s["empty_frame"] = b"\x00\x01" + frame(list_) + b"\0\0\0\0"
    s["oversized"] = b"\x00\x02" + struct.pack(">I", 0x7FFFFFFF) + b"xx"
    # Access control (fuzz_api.c: a first octet with its top bit set runs
    # against the fixture's tokens): unauthenticated, a wrong token, a read
    # token writing, a write:web* token outside its glob, then admin.
    def auth(rid, token):
        return request(rid, 20, f_bytes(1, token))
    s["tokens"] = b"\x80\x00" + b"".join(frame(m) for m in (
        list_, open_lease, auth(20, "wrong"), reg_perm, auth(21, "read-token"), query_,
        open_lease, auth(22, "web-token"), open_lease, reg_leased, reg_perm, set_status,
        auth(23, "admin-token"), reg_perm, set_status, dereg, close_lease))
    # Ownership: a second lease's takeover and a permanent re-registration of
    # a leased instance, then the owner's own change (owner_lease, lease).
    other_reg = request(31, 12, f_bytes(1, web) + f_varint(2, 2))
    perm_over = request(32, 12, f_bytes(1, web))
    owner_status = request(33, 14, f_bytes(1, instance_id("web", "tcp", "web1.lon6.example.net",
                                                          8080)) + f_varint(2, 3) +
                           f_varint(3, 1))
    owner_dereg = request(34, 13, f_bytes(1, instance_id("web", "tcp", "web1.lon6.example.net",
                                                         8080)) + f_varint(3, 1))
    s["ownership"] = b"\x00\x03" + b"".join(frame(m) for m in (
        open_lease, reg_leased, open_lease, other_reg, perm_over, set_status, owner_status,
        owner_dereg))
    # NUL bytes inside names and metadata.
    s["nul_names"] = b"\x00\x04" + b"".join(frame(m) for m in (
        request(41, 12, f_bytes(1, instance("web\0x", "tcp", "h.example.net", 80))),
        request(42, 12, f_bytes(1, instance("web", "tcp", "evil.example.net\0.good", 80))),
        request(43, 12, f_bytes(1, instance("web", "tcp", "h.example.net", 80,
                                            meta=[("k\0", "v")]))),
        request(44, 15, f_bytes(1, "web\0"))))
    return s


def response(rid, result_num, body, error=0, message=""):
    r = f_varint(1, rid)
    if error:
        r += f_varint(2, error)
    if message:
        r += f_bytes(3, message)
    return r + f_bytes(result_num, body)


def full_instance(svc, proto, host, port, addrs=(), meta=(), status=2, expiry=1, lease=7,
                  stale=False):
    b = instance(svc, proto, host, port, addrs, meta, status)
    b += f_varint(6, 1) + f_varint(10, 1795000000000) + f_varint(11, 1795000060000)
    b += f_varint(12, expiry)
    if lease:
        b += f_varint(13, lease)
    if stale:
        b += f_varint(14, 1)
    return b


def client_seeds():
    # one control octet (fuzz_client.c: stale, protocol asked, ring key), then
    # a Response body as a registry sends it
    web1 = full_instance("web", "tcp", "web1.lon6.example.net.", 8080,
                         ["10.0.0.1", "2001:db8::1"], [("path", "/v1"), ("zone", "a")])
    web2 = full_instance("web", "tcp", "web2.lon6.example.net.", 8080, ["10.0.0.2"], status=3)
    web3 = full_instance("web", "udp", "web3.lon6.example.net.", 53, status=2, expiry=2,
                         lease=0, stale=True)
    s = {}
    s["query"] = b"\x00" + response(7, 15, f_bytes(1, web1) + f_bytes(1, web2) + f_varint(2, 42))
    s["query_mixed_stale"] = b"\x07" + response(8, 15, f_bytes(1, web1) + f_bytes(1, web3) +
                                                 f_varint(2, 43) + f_varint(3, 1))
    s["query_empty"] = b"\x02" + response(9, 15, f_varint(2, 1))
    summary = (f_bytes(1, f_bytes(1, "web") + f_bytes(2, "tcp") + f_varint(3, 2) +
                       f_varint(4, 1)) +
               f_bytes(1, f_bytes(1, "db") + f_bytes(2, "tcp") + f_varint(5, 1) +
                       f_varint(6, 1)))
    s["list"] = b"\x00" + response(10, 16, summary + f_varint(2, 44))
    reports = b"".join(f_bytes(19, f_bytes(1, code) + f_varint(2, n))
                       for code, n in (("e42", 3), ("timeout", 17), ("nxdomain", 1)))
    stats = (f_varint(1, 44) + f_varint(3, 2) + f_varint(4, 3) + f_varint(5, 2) +
             f_varint(7, 2) + f_varint(13, 86400000) + f_bytes(14, "lon6") +
             f_bytes(15, "example.net") + f_bytes(16, "services.lon6.example.net.") +
             f_varint(18, 1000) + reports)
    s["stats"] = b"\x00" + response(11, 18, stats)
    s["watch_begin"] = b"\x00" + response(12, 17, f_varint(1, 1) + f_varint(2, 40))
    s["watch_upsert"] = b"\x00" + response(12, 17, f_varint(1, 3) + f_varint(2, 41) +
                                           f_bytes(3, web1))
    s["watch_remove"] = b"\x00" + response(12, 17, f_varint(1, 4) + f_varint(2, 45) + f_bytes(
        3, instance_id("web", "tcp", "web2.lon6.example.net.", 8080)) + f_bytes(4, "expired"))
    s["open_lease"] = b"\x00" + response(1, 10, f_varint(1, 7) + f_varint(2, 10))
    # Inputs the fuzzer found (commit 73b7692: a STATIC expiry, an
    # Authenticate result), kept as regression seeds.
    s["static-expiry"] = bytes.fromhex(
        "0008077ab9010a6c0a0377656212037463701a16776500080c8a010408011028616d706c652e6e65742e2090"
        "3f2a0831302e302e302e712a0b323030313a6462383a3a31380a420b0a047061746812032f763142090a047a"
        "6f6e65120161480230015080bcd9f29e3458e090ddf29e32600168070a470a0377656212037463701a167765"
        "62322e6c6f6e362e6578616d706c652e6e65742e20903f2a0831302e302e302e323877480330015080bcd9f2"
        "9e3458e090ddf29e3460036807102a")
    s["authenticate-result"] = bytes.fromhex("0ca201000828")
    s["error"] = b"\x00" + f_varint(1, 2) + f_varint(2, 3) + f_bytes(3, "unknown lease 7")
    return s


def frame_seeds():
    s = {}
    # two chunking octets, one limit octet (0: 1 MiB), then the stream
    s["two_frames"] = b"\x00\x01\x00" + frame(b"hello") + frame(b"x" * 100)
    s["small_limit"] = b"\x10\x20\x40" + frame(b"a" * 64) + frame(b"b" * 65)
    s["empty"] = b"\x00\x00\x00" + frame(b"abc") + b"\0\0\0\0"
    s["truncated"] = b"\x55\x55\x00" + frame(b"abc") + struct.pack(">I", 50) + b"12345"
    return s


def http_seeds():
    s = {}
    s["get_metrics"] = b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"
    s["head_10"] = b"HEAD /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    s["pipelined"] = (b"GET /v1/services?x=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                      b"\r\nGET / HTTP/1.1\nHost: b\n\n")
    s["body"] = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
    s["chunked"] = b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    s["http2"] = b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"
    s["fields"] = (b"GET /metrics HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8\r\n"
                   b"Accept: */*\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n")
    return s


def main():
    targets = {"dns": dns_seeds, "api": api_seeds, "frame": frame_seeds, "http": http_seeds,
               "client": client_seeds, "recv": recv_seeds}
    chosen = sys.argv[1:] or list(targets)
    for target in chosen:
        if target not in targets:
            sys.exit("gen_corpus.py: no target %r (%s)" % (target, ", ".join(targets)))
    for target in chosen:
        seeds = targets[target]()
        d = os.path.join(HERE, "corpus", target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for n, data in seeds.items():
            with open(os.path.join(d, n), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
