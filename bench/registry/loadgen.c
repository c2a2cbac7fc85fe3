/*
 * bench/registry/loadgen.c - the load generator of the registry benchmark.
 *
 * One thread, one epoll loop, several TCP connections, each with a pipeline
 * window: a connection keeps up to --window requests unanswered and sends a
 * new one as soon as an answer frees a slot. Every answer's latency (from
 * the moment its request was queued for sending to the moment its answer was
 * read) goes into a 1-microsecond histogram.
 *
 * Modes
 *   heartbeat  open --leases leases, then heartbeat them round-robin for
 *              --duration seconds
 *   register   unique instances (ids from --id-base), permanent or under one
 *              lease per connection (--leased), for --duration seconds or
 *              --count registrations; each answer is a durable acknowledgement
 *   dnsupdate  the same registrations as RFC 2136 UPDATEs over DNS/TCP to a
 *              peer (Knot, BIND): per registration one SRV and one A record
 *   startup    fork+exec the command after "--", then time until a Query
 *              for bench0/tcp returns at least --count instances (the
 *              "serving" moment); the child is left running and its pid
 *              written to --pidfile
 *   rss        print a process's VmRSS, RssAnon and RssFile (bytes)
 *
 * Output: one line "RESULT key=value ..." on stdout for run.sh to parse.
 *
 * The hot requests (heartbeats) and every answer are encoded/decoded by hand
 * so that the generator, which shares the machine with the server, spends
 * its CPU on the sockets; Register, OpenLease and Query use protobuf-c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/frame.h"
#include "roster.pb-c.h"

#define MAX_CONNS 256
#define SLOTS 65536u /* sent-time ring per connection; also the DNS id space */
#define SLOT_MASK (SLOTS - 1)
#define HIST_US 1000000u /* exact up to 1 s, one overflow bucket above */
#define IN_CAP (256u * 1024u)

enum kind {
	KIND_OPEN_LEASE,
	KIND_HEARTBEAT,
	KIND_REGISTER,
	KIND_DNSUPDATE,
};

struct hist {
	uint32_t *us; /* HIST_US + 1 buckets */
	uint64_t n;
	uint64_t sum_us;
};

struct lconn {
	int fd;
	uint32_t index;
	uint32_t inflight;
	uint64_t seq; /* requests sent on this connection */
	uint64_t acked;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	uint8_t *in;
	size_t in_len;
	uint64_t *sent_ns; /* SLOTS entries */
	uint64_t lease;    /* --leased registrations */
	bool want_out;
};

struct options {
	const char *mode;
	const char *server;
	uint32_t conns;
	uint32_t window;
	double duration;
	uint64_t count;
	uint64_t leases;
	uint64_t id_base;
	uint32_t services;
	bool leased;
	const char *zone;
	const char *pidfile;
	const char *log;
	int pid;
	char **cmd;
	const char *token; /* --token: Authenticate first on every connection */
	double rate;       /* --rate: at most this many requests a second (0: no cap) */
};

struct gen {
	struct options *o;
	enum kind kind;
	int ep;
	struct lconn conns[MAX_CONNS];
	uint32_t nconns;
	struct hist hist;
	uint64_t to_send; /* requests left to send (count mode); UINT64_MAX otherwise */
	uint64_t sent;
	uint64_t done;
	uint64_t done_in_window;
	uint64_t errors;
	uint64_t t_start, t_stop; /* t_stop: no new request after it */
	uint64_t t_last_ack;
	bool stopping;
	uint64_t *lease_ids; /* heartbeat mode */
	uint64_t nlease_ids;
	uint64_t next_id; /* register / dnsupdate: next instance number */
	uint8_t zone_wire[256];
	size_t zone_wire_len;
	char first_error[256];
};

static volatile sig_atomic_t interrupted;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "loadgen: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* ---- histogram ----------------------------------------------------------- */

static void hist_init(struct hist *h)
{
	h->us = calloc(HIST_US + 1, sizeof(uint32_t));
	if (h->us == NULL) {
		die("%s", "out of memory");
	}
	h->n = h->sum_us = 0;
}

static void hist_add(struct hist *h, uint64_t ns)
{
	uint64_t us = ns / 1000u;
	h->us[us < HIST_US ? us : HIST_US]++;
	h->n++;
	h->sum_us += us;
}

/* The q-quantile in microseconds (HIST_US means "1 s or more"). */
static uint64_t hist_quantile(const struct hist *h, double q)
{
	if (h->n == 0) {
		return 0;
	}
	uint64_t rank = (uint64_t)(q * (double)h->n);
	if (rank >= h->n) {
		rank = h->n - 1;
	}
	uint64_t seen = 0;
	for (uint32_t us = 0; us <= HIST_US; us++) {
		seen += h->us[us];
		if (seen > rank) {
			return us;
		}
	}
	return HIST_US;
}

/* ---- small protobuf helpers (wire format, proto3) ------------------------ */

static size_t pb_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static int pb_read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		r |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

/* The id (field 1), error (field 2) and message (field 3) of a Response. */
static int pb_response_head(const uint8_t *p, size_t len, uint64_t *id, uint64_t *error,
		const uint8_t **msg, size_t *msg_len)
{
	const uint8_t *end = p + len;
	*id = *error = 0;
	*msg = NULL;
	*msg_len = 0;
	while (p < end) {
		uint64_t key, v;
		if (pb_read_varint(&p, end, &key) < 0) {
			return -1;
		}
		switch (key & 7) {
		case 0:
			if (pb_read_varint(&p, end, &v) < 0) {
				return -1;
			}
			if (key >> 3 == 1) {
				*id = v;
			} else if (key >> 3 == 2) {
				*error = v;
			}
			break;
		case 1:
			p += 8;
			break;
		case 5:
			p += 4;
			break;
		case 2:
			if (pb_read_varint(&p, end, &v) < 0 || v > (uint64_t)(end - p)) {
				return -1;
			}
			if (key >> 3 == 3) {
				*msg = p;
				*msg_len = (size_t)v;
			}
			p += v;
			break;
		default:
			return -1;
		}
	}
	return p == end ? 0 : -1;
}

/* ---- connections ------------------------------------------------------------ */

static int parse_endpoint(const char *text, struct sockaddr_storage *ss, socklen_t *sl)
{
	char host[128];
	const char *colon = strrchr(text, ':');
	if (colon == NULL || (size_t)(colon - text) >= sizeof(host)) {
		return -1;
	}
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	int port = atoi(colon + 1);
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char *h = host;
	if (h[0] == '[') {
		h++;
		h[strlen(h) - 1] = '\0';
	}
	if (inet_pton(AF_INET, h, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*sl = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*in6);
		return 0;
	}
	return -1;
}

static int tcp_connect(const char *server, bool nonblock)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	if (parse_endpoint(server, &ss, &sl) < 0) {
		die("bad endpoint '%s' (want ADDR:PORT)", server);
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		close(fd);
		return -1;
	}
	if (nonblock) {
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	return fd;
}

static void out_reserve(struct lconn *c, size_t more)
{
	if (c->out_len + more <= c->out_cap) {
		return;
	}
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		if (c->out_len + more <= c->out_cap) {
			return;
		}
	}
	size_t cap = c->out_cap == 0 ? 65536 : c->out_cap * 2;
	while (cap < c->out_len + more) {
		cap *= 2;
	}
	c->out = realloc(c->out, cap);
	if (c->out == NULL) {
		die("%s", "out of memory");
	}
	c->out_cap = cap;
}

/* ---- request encoders -------------------------------------------------------- */

static void enc_frame_pb(struct lconn *c, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	out_reserve(c, n + RS_FRAME_HEADER);
	rs_frame_header_write(c->out + c->out_len, (uint32_t)n);
	protobuf_c_message_pack(m, c->out + c->out_len + RS_FRAME_HEADER);
	c->out_len += n + RS_FRAME_HEADER;
}

static void enc_open_lease(struct lconn *c, uint64_t id)
{
	Roster__V1__OpenLeaseRequest ol = ROSTER__V1__OPEN_LEASE_REQUEST__INIT;
	ol.ttl_seconds = 600;
	Roster__V1__Request q = ROSTER__V1__REQUEST__INIT;
	q.id = id;
	q.op_case = ROSTER__V1__REQUEST__OP_OPEN_LEASE;
	q.open_lease = &ol;
	enc_frame_pb(c, &q.base);
}

/* Request{id=1: id, heartbeat=11: {lease=1: lease}} by hand: the hot path. */
static void enc_heartbeat(struct lconn *c, uint64_t id, uint64_t lease)
{
	uint8_t body[32];
	size_t n = 0;
	body[n++] = 0x08;
	n += pb_varint(body + n, id);
	uint8_t inner[16];
	size_t m = 0;
	inner[m++] = 0x08;
	m += pb_varint(inner + m, lease);
	body[n++] = (11 << 3) | 2;
	body[n++] = (uint8_t)m;
	memcpy(body + n, inner, m);
	n += m;
	out_reserve(c, n + RS_FRAME_HEADER);
	rs_frame_header_write(c->out + c->out_len, (uint32_t)n);
	memcpy(c->out + c->out_len + RS_FRAME_HEADER, body, n);
	c->out_len += n + RS_FRAME_HEADER;
}

/* Registration number @p k: service bench<k % services>, protocol tcp,
 * host h<k>.bench.example.net, port 8080, address 10.x.y.z from k. The
 * DNS peer gets the same data as SRV + A records. */
static void reg_names(const struct options *o, uint64_t k, char *svc, size_t svcsz, char *host,
		size_t hostsz, char *addr, size_t addrsz)
{
	snprintf(svc, svcsz, "bench%llu", (unsigned long long)(k % o->services));
	snprintf(host, hostsz, "h%llu.bench.example.net", (unsigned long long)k);
	snprintf(addr, addrsz, "10.%u.%u.%u", (unsigned)((k >> 16) & 0xff),
			(unsigned)((k >> 8) & 0xff), (unsigned)(k & 0xff));
}

static void enc_register(struct gen *g, struct lconn *c, uint64_t id, uint64_t k)
{
	char svc[32], host[64], addr[32];
	reg_names(g->o, k, svc, sizeof(svc), host, sizeof(host), addr, sizeof(addr));
	char *addrs[1] = {addr};
	Roster__V1__Instance in = ROSTER__V1__INSTANCE__INIT;
	in.service = svc;
	in.protocol = "tcp";
	in.host = host;
	in.port = 8080;
	in.addresses = addrs;
	in.n_addresses = 1;
	in.weight = 10;
	Roster__V1__RegisterRequest r = ROSTER__V1__REGISTER_REQUEST__INIT;
	r.instance = &in;
	r.lease = g->o->leased ? c->lease : 0;
	Roster__V1__Request q = ROSTER__V1__REQUEST__INIT;
	q.id = id;
	q.op_case = ROSTER__V1__REQUEST__OP_REGISTER;
	q.register_ = &r;
	enc_frame_pb(c, &q.base);
}

/* Text name -> DNS wire form (no compression). */
static size_t name_wire(const char *text, uint8_t *out)
{
	size_t n = 0;
	const char *p = text;
	while (*p != '\0') {
		const char *dot = strchr(p, '.');
		size_t l = dot != NULL ? (size_t)(dot - p) : strlen(p);
		out[n++] = (uint8_t)l;
		memcpy(out + n, p, l);
		n += l;
		p += l;
		if (*p == '.') {
			p++;
		}
	}
	out[n++] = 0;
	return n;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* RFC 2136 2.5.1 "Add to an RRset": an UPDATE with the zone, no
 * prerequisites, and two RRs to add: the SRV of the service and the A of
 * its host, both in the zone. Over TCP: a 2-octet length first (RFC 1035
 * 4.2.2). */
static void enc_dnsupdate(struct gen *g, struct lconn *c, uint16_t dnsid, uint64_t k)
{
	char svc[32], host[64], addr[32], owner[320], target[320];
	reg_names(g->o, k, svc, sizeof(svc), host, sizeof(host), addr, sizeof(addr));
	snprintf(owner, sizeof(owner), "_%s._tcp.services.lon6.%s", svc, g->o->zone);
	snprintf(target, sizeof(target), "h%llu.bench.%s", (unsigned long long)k, g->o->zone);
	uint8_t pkt[1024];
	size_t n = 2;
	put16(pkt + n, dnsid);
	put16(pkt + n + 2, 5 << 11); /* opcode UPDATE */
	put16(pkt + n + 4, 1);       /* ZOCOUNT */
	put16(pkt + n + 6, 0);       /* PRCOUNT */
	put16(pkt + n + 8, 2);       /* UPCOUNT */
	put16(pkt + n + 10, 0);      /* ADCOUNT */
	n += 12;
	memcpy(pkt + n, g->zone_wire, g->zone_wire_len);
	n += g->zone_wire_len;
	put16(pkt + n, 6); /* SOA */
	put16(pkt + n + 2, 1);
	n += 4;
	/* SRV */
	n += name_wire(owner, pkt + n);
	put16(pkt + n, 33);
	put16(pkt + n + 2, 1);
	put32(pkt + n + 4, 30);
	size_t rdlen_at = n + 8;
	n += 10;
	put16(pkt + n, 0);      /* priority */
	put16(pkt + n + 2, 10); /* weight */
	put16(pkt + n + 4, 8080);
	n += 6;
	n += name_wire(target, pkt + n);
	put16(pkt + rdlen_at, (uint16_t)(n - rdlen_at - 2));
	/* A */
	n += name_wire(target, pkt + n);
	put16(pkt + n, 1);
	put16(pkt + n + 2, 1);
	put32(pkt + n + 4, 30);
	put16(pkt + n + 8, 4);
	n += 10;
	struct in_addr a4;
	inet_pton(AF_INET, addr, &a4);
	memcpy(pkt + n, &a4, 4);
	n += 4;
	put16(pkt, (uint16_t)(n - 2));
	out_reserve(c, n);
	memcpy(c->out + c->out_len, pkt, n);
	c->out_len += n;
}

/* ---- the engine ---------------------------------------------------------------- */

static void conn_watch(struct gen *g, struct lconn *c, bool want_out)
{
	if (c->want_out == want_out) {
		return;
	}
	c->want_out = want_out;
	struct epoll_event ev = {
			.events = EPOLLIN | (want_out ? EPOLLOUT : 0u), .data = {.u32 = c->index}};
	epoll_ctl(g->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* --rate: may request number g->sent go out at @p now? */
static bool pace_allows(const struct gen *g, uint64_t now)
{
	return g->o->rate <= 0 ||
	       (double)g->sent < (double)(now - g->t_start) * g->o->rate / 1e9 + 1;
}

static void conn_fill(struct gen *g, struct lconn *c, uint64_t now)
{
	while (c->inflight < g->o->window && g->to_send > 0 && !g->stopping &&
			pace_allows(g, now)) {
		uint64_t seq = c->seq++;
		/* The id carries the connection, so a stray answer is noticed. */
		uint64_t id = (uint64_t)c->index << 48 | seq;
		switch (g->kind) {
		case KIND_OPEN_LEASE:
			enc_open_lease(c, id);
			break;
		case KIND_HEARTBEAT:
			enc_heartbeat(c, id, g->lease_ids[g->sent % g->nlease_ids]);
			break;
		case KIND_REGISTER:
			enc_register(g, c, id, g->next_id++);
			break;
		case KIND_DNSUPDATE:
			enc_dnsupdate(g, c, (uint16_t)seq, g->next_id++);
			break;
		}
		c->sent_ns[seq & SLOT_MASK] = now;
		c->inflight++;
		g->sent++;
		if (g->to_send != UINT64_MAX) {
			g->to_send--;
		}
	}
}

static void conn_write(struct gen *g, struct lconn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (w < 0) {
			if (errno == EAGAIN) {
				conn_watch(g, c, true);
				return;
			}
			if (errno == EINTR) {
				continue;
			}
			die("write: %s", strerror(errno));
		}
		c->out_off += (size_t)w;
	}
	c->out_off = c->out_len = 0;
	conn_watch(g, c, false);
}

static void on_answer(struct gen *g, struct lconn *c, uint64_t seq, uint64_t now, bool ok,
		const uint8_t *msg, size_t msg_len)
{
	if (c->inflight == 0) {
		die("%s", "an answer nobody asked for");
	}
	c->inflight--;
	c->acked++;
	g->done++;
	if (now <= g->t_stop) {
		g->done_in_window++;
	}
	g->t_last_ack = now;
	hist_add(&g->hist, now - c->sent_ns[seq & SLOT_MASK]);
	if (!ok) {
		if (g->errors++ == 0) {
			snprintf(g->first_error, sizeof(g->first_error), "%.*s", (int)msg_len,
					msg != NULL ? (const char *)msg : "");
		}
	}
}

/* Handle one API answer frame. */
static void on_api_frame(struct gen *g, struct lconn *c, const uint8_t *f, size_t len, uint64_t now)
{
	uint64_t id, error;
	const uint8_t *msg;
	size_t msg_len;
	if (pb_response_head(f, len, &id, &error, &msg, &msg_len) < 0) {
		die("%s", "malformed Response");
	}
	if (id >> 48 != c->index) {
		die("answer for another connection: %.*s", (int)msg_len,
				msg != NULL ? (const char *)msg : "");
	}
	if (g->kind == KIND_OPEN_LEASE && error == 0) {
		Roster__V1__Response *r = roster__v1__response__unpack(NULL, len, f);
		if (r == NULL || r->result_case != ROSTER__V1__RESPONSE__RESULT_OPEN_LEASE) {
			die("%s", "bad OpenLease answer");
		}
		g->lease_ids[g->nlease_ids++] = r->open_lease->lease;
		if (c->lease == 0) {
			c->lease = r->open_lease->lease;
		}
		roster__v1__response__free_unpacked(r, NULL);
	}
	on_answer(g, c, id & 0xffffffffffffULL, now, error == 0, msg, msg_len);
}

static void conn_read(struct gen *g, struct lconn *c)
{
	for (;;) {
		ssize_t r = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
		if (r < 0) {
			if (errno == EAGAIN) {
				return;
			}
			if (errno == EINTR) {
				continue;
			}
			die("read: %s", strerror(errno));
		}
		if (r == 0) {
			die("%s", "the server closed a connection");
		}
		c->in_len += (size_t)r;
		uint64_t now = now_ns();
		size_t off = 0;
		bool dns = g->kind == KIND_DNSUPDATE;
		size_t hdr = dns ? 2 : RS_FRAME_HEADER;
		while (c->in_len - off >= hdr) {
			const uint8_t *p = c->in + off;
			size_t len = dns ? (size_t)(p[0] << 8 | p[1])
					 : (size_t)p[0] << 24 | (size_t)p[1] << 16 |
								     (size_t)p[2] << 8 | p[3];
			if (len + hdr > IN_CAP) {
				die("%s", "answer too large");
			}
			if (c->in_len - off < hdr + len) {
				break;
			}
			p += hdr;
			if (dns) {
				if (len < 12) {
					die("%s", "short DNS answer");
				}
				uint16_t dnsid = (uint16_t)(p[0] << 8 | p[1]);
				uint8_t rcode = p[3] & 0x0f;
				/* The id is the low 16 bits of seq: the latest request
				 * sent with that id (fewer than 65,536 are in flight). */
				uint64_t last = c->seq - 1;
				uint64_t seq = last - (uint16_t)((uint16_t)last - dnsid);
				static const char *rcodes[] = {"NOERROR", "FORMERR", "SERVFAIL",
						"NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN",
						"YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"};
				const char *rt = rcode < 11 ? rcodes[rcode] : "rcode>10";
				on_answer(g, c, seq, now, rcode == 0, (const uint8_t *)rt,
						strlen(rt));
			} else {
				on_api_frame(g, c, p, len, now);
			}
			off += hdr + len;
		}
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
		conn_fill(g, c, now);
		conn_write(g, c);
		if ((size_t)r < IN_CAP / 2) {
			return; /* probably drained: back to epoll */
		}
	}
}

/* Authenticate on a blocking connection, before the load starts: one
 * exchange, its answer read whole (the load's reader never sees it). */
static void auth_sync(int fd, const char *token)
{
	Roster__V1__AuthenticateRequest a = ROSTER__V1__AUTHENTICATE_REQUEST__INIT;
	a.token = (char *)token;
	Roster__V1__Request q = ROSTER__V1__REQUEST__INIT;
	q.id = 1;
	q.op_case = ROSTER__V1__REQUEST__OP_AUTHENTICATE;
	q.authenticate = &a;
	uint8_t buf[4096];
	size_t n = roster__v1__request__get_packed_size(&q);
	if (n + RS_FRAME_HEADER > sizeof(buf)) {
		die("%s", "token too long");
	}
	rs_frame_header_write(buf, (uint32_t)n);
	roster__v1__request__pack(&q, buf + RS_FRAME_HEADER);
	if (write(fd, buf, n + RS_FRAME_HEADER) != (ssize_t)(n + RS_FRAME_HEADER)) {
		die("%s", "Authenticate: write failed");
	}
	size_t got = 0, want = RS_FRAME_HEADER;
	while (got < want) {
		ssize_t r = read(fd, buf + got, want - got);
		if (r <= 0) {
			die("%s", "Authenticate: no answer");
		}
		got += (size_t)r;
		if (got == RS_FRAME_HEADER && want == RS_FRAME_HEADER) {
			want += (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 |
				buf[3];
			if (want > sizeof(buf)) {
				die("%s", "Authenticate: answer too long");
			}
		}
	}
	uint64_t id, error;
	const uint8_t *msg;
	size_t msg_len;
	if (pb_response_head(buf + RS_FRAME_HEADER, want - RS_FRAME_HEADER, &id, &error, &msg,
			    &msg_len) < 0 ||
			error != 0) {
		die("Authenticate refused: %.*s", (int)msg_len,
				msg != NULL ? (const char *)msg : "");
	}
}

static void gen_connect(struct gen *g)
{
	g->ep = epoll_create1(EPOLL_CLOEXEC);
	for (uint32_t k = 0; k < g->nconns; k++) {
		struct lconn *c = &g->conns[k];
		c->index = k;
		c->fd = tcp_connect(g->o->server, g->o->token == NULL);
		if (c->fd < 0) {
			die("cannot connect to %s", g->o->server);
		}
		if (g->o->token != NULL) {
			auth_sync(c->fd, g->o->token);
			fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
		}
		c->in = malloc(IN_CAP);
		c->sent_ns = calloc(SLOTS, sizeof(uint64_t));
		if (c->in == NULL || c->sent_ns == NULL) {
			die("%s", "out of memory");
		}
		struct epoll_event ev = {.events = EPOLLIN, .data = {.u32 = k}};
		epoll_ctl(g->ep, EPOLL_CTL_ADD, c->fd, &ev);
	}
}

/* Run one phase: send until the duration is over or @p count requests are
 * sent, then wait (at most 10 s) for the answers still in flight. */
static void gen_phase(struct gen *g, enum kind kind, double duration, uint64_t count)
{
	g->kind = kind;
	g->to_send = count > 0 ? count : UINT64_MAX;
	g->sent = g->done = g->done_in_window = g->errors = 0;
	g->stopping = false;
	g->first_error[0] = '\0';
	hist_init(&g->hist);
	g->t_start = now_ns();
	g->t_stop = duration > 0 ? g->t_start + (uint64_t)(duration * 1e9) : UINT64_MAX;
	g->t_last_ack = g->t_start;
	for (uint32_t k = 0; k < g->nconns; k++) {
		conn_fill(g, &g->conns[k], g->t_start);
		conn_write(g, &g->conns[k]);
	}
	uint64_t drain_deadline = UINT64_MAX;
	struct epoll_event evs[MAX_CONNS];
	for (;;) {
		uint64_t now = now_ns();
		if (!g->stopping && (now >= g->t_stop || interrupted ||
						    (g->to_send == 0 && g->sent == g->done))) {
			g->stopping = true;
			if (g->t_stop > now) {
				g->t_stop = now;
			}
			drain_deadline = now + 10000000000ULL;
		}
		if (g->stopping && (g->sent == g->done || now >= drain_deadline)) {
			break;
		}
		int n = epoll_wait(g->ep, evs, MAX_CONNS, g->o->rate > 0 ? 1 : 50);
		for (int k = 0; k < n; k++) {
			struct lconn *c = &g->conns[evs[k].data.u32];
			if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				conn_read(g, c);
			}
			if (evs[k].events & EPOLLOUT) {
				conn_write(g, c);
			}
		}
		if (g->o->rate > 0) { /* paced: send what has come due */
			now = now_ns();
			for (uint32_t k = 0; k < g->nconns; k++) {
				conn_fill(g, &g->conns[k], now);
				conn_write(g, &g->conns[k]);
			}
		}
	}
	if (g->sent != g->done) {
		fprintf(stderr, "loadgen: %llu requests unanswered after 10 s\n",
				(unsigned long long)(g->sent - g->done));
	}
}

static void gen_report(struct gen *g, const char *mode)
{
	double secs;
	double rate;
	if (g->t_stop != UINT64_MAX && g->to_send == UINT64_MAX) {
		secs = (double)(g->t_stop - g->t_start) / 1e9;
		rate = (double)g->done_in_window / secs;
	} else {
		secs = (double)(g->t_last_ack - g->t_start) / 1e9;
		rate = secs > 0 ? (double)g->done / secs : 0;
	}
	printf("RESULT mode=%s ops=%llu secs=%.3f rate=%.0f p50_us=%llu p99_us=%llu p999_us=%llu "
	       "max_us=%llu mean_us=%.0f errors=%llu conns=%u window=%u next_id=%llu\n",
			mode, (unsigned long long)g->done, secs, rate,
			(unsigned long long)hist_quantile(&g->hist, 0.50),
			(unsigned long long)hist_quantile(&g->hist, 0.99),
			(unsigned long long)hist_quantile(&g->hist, 0.999),
			(unsigned long long)hist_quantile(&g->hist, 1.0),
			g->hist.n > 0 ? (double)g->hist.sum_us / (double)g->hist.n : 0.0,
			(unsigned long long)g->errors, g->nconns, g->o->window,
			(unsigned long long)g->next_id);
	if (g->errors > 0) {
		fprintf(stderr, "loadgen: %llu errors, first: %s\n", (unsigned long long)g->errors,
				g->first_error);
	}
	fflush(stdout);
	free(g->hist.us);
	g->hist.us = NULL;
}

/* ---- modes ------------------------------------------------------------------------ */

static int mode_heartbeat(struct gen *g)
{
	g->lease_ids = calloc(g->o->leases + MAX_CONNS, sizeof(uint64_t));
	if (g->lease_ids == NULL) {
		die("%s", "out of memory");
	}
	gen_connect(g);
	gen_phase(g, KIND_OPEN_LEASE, 0, g->o->leases);
	if (g->errors > 0 || g->nlease_ids == 0) {
		die("opening leases failed: %s", g->first_error);
	}
	gen_report(g, "open_lease");
	gen_phase(g, KIND_HEARTBEAT, g->o->duration, g->o->count);
	gen_report(g, "heartbeat");
	return g->errors > 0 ? 1 : 0;
}

static int mode_register(struct gen *g)
{
	gen_connect(g);
	if (g->o->leased) {
		g->lease_ids = calloc(MAX_CONNS, sizeof(uint64_t));
		uint32_t window = g->o->window;
		g->o->window = 1;
		gen_phase(g, KIND_OPEN_LEASE, 0, g->nconns);
		g->o->window = window;
		for (uint32_t k = 0; k < g->nconns; k++) {
			if (g->conns[k].lease == 0) {
				die("%s", "a connection got no lease");
			}
		}
	}
	g->next_id = g->o->id_base;
	gen_phase(g, KIND_REGISTER, g->o->duration, g->o->count);
	gen_report(g, g->o->count > 0 ? "bulk" : "register");
	return g->errors > 0 ? 1 : 0;
}

static int mode_dnsupdate(struct gen *g)
{
	char zone[300];
	snprintf(zone, sizeof(zone), "%s", g->o->zone);
	g->zone_wire_len = name_wire(zone, g->zone_wire);
	gen_connect(g);
	g->next_id = g->o->id_base;
	if (g->o->window > 60000) {
		die("%s", "--window over 60000: DNS ids would repeat");
	}
	gen_phase(g, KIND_DNSUPDATE, g->o->duration, g->o->count);
	gen_report(g, "dnsupdate");
	return g->errors > 0 ? 1 : 0;
}

/* One blocking Query (service bench0, protocol tcp); the number of
 * instances it returned, or -1 when the server does not answer yet. */
static long query_once(const char *server, const char *token)
{
	int fd = tcp_connect(server, false);
	if (fd < 0) {
		return -1;
	}
	if (token != NULL) {
		auth_sync(fd, token);
	}
	struct timeval tv = {2, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	Roster__V1__QueryRequest qq = ROSTER__V1__QUERY_REQUEST__INIT;
	qq.service = "bench0";
	qq.protocol = "tcp";
	Roster__V1__Request q = ROSTER__V1__REQUEST__INIT;
	q.id = 1;
	q.op_case = ROSTER__V1__REQUEST__OP_QUERY;
	q.query = &qq;
	uint8_t buf[256];
	size_t n = protobuf_c_message_get_packed_size(&q.base);
	rs_frame_header_write(buf, (uint32_t)n);
	protobuf_c_message_pack(&q.base, buf + RS_FRAME_HEADER);
	long result = -1;
	if (write(fd, buf, n + RS_FRAME_HEADER) != (ssize_t)(n + RS_FRAME_HEADER)) {
		goto out;
	}
	uint8_t hdr[4];
	size_t got = 0;
	while (got < 4) {
		ssize_t r = read(fd, hdr + got, 4 - got);
		if (r <= 0) {
			goto out;
		}
		got += (size_t)r;
	}
	size_t len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
	uint8_t *body = malloc(len + 1);
	if (body == NULL) {
		goto out;
	}
	got = 0;
	while (got < len) {
		ssize_t r = read(fd, body + got, len - got);
		if (r <= 0) {
			free(body);
			goto out;
		}
		got += (size_t)r;
	}
	Roster__V1__Response *resp = roster__v1__response__unpack(NULL, len, body);
	free(body);
	if (resp != NULL && resp->result_case == ROSTER__V1__RESPONSE__RESULT_QUERY) {
		result = (long)resp->query->n_instances;
	}
	if (resp != NULL) {
		roster__v1__response__free_unpacked(resp, NULL);
	}
out:
	close(fd);
	return result;
}

static int mode_startup(struct options *o)
{
	if (o->cmd == NULL || o->cmd[0] == NULL) {
		die("%s", "startup: give the command after --");
	}
	uint64_t t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0) {
		die("fork: %s", strerror(errno));
	}
	if (pid == 0) {
		if (o->log != NULL) {
			int fd = open(o->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd >= 0) {
				dup2(fd, 2);
				dup2(fd, 1);
				close(fd);
			}
		}
		setpgid(0, 0); /* not killed with the benchmark's terminal group */
		execv(o->cmd[0], o->cmd);
		_exit(127);
	}
	if (o->pidfile != NULL) {
		FILE *f = fopen(o->pidfile, "w");
		if (f != NULL) {
			fprintf(f, "%d\n", (int)pid);
			fclose(f);
		}
	}
	uint64_t deadline = t0 + (uint64_t)((o->duration > 0 ? o->duration : 60) * 1e9);
	long n = -1;
	uint64_t t_listen = 0;
	while (now_ns() < deadline) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			die("%s", "the server exited during startup");
		}
		n = query_once(o->server, o->token);
		if (n >= 0 && t_listen == 0) {
			t_listen = now_ns();
		}
		if (n >= 0 && (uint64_t)n >= o->count) {
			break;
		}
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	uint64_t t1 = now_ns();
	if (n < 0 || (uint64_t)n < o->count) {
		die("%s", "the server did not serve in time");
	}
	/* The CPU the server used to get there: on a shared machine the wall
	 * time also counts the other jobs' turns on the CPU. */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	unsigned long long ut = 0, st = 0;
	FILE *f = fopen(path, "r");
	if (f != NULL) {
		char buf[1024];
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		buf[len] = '\0';
		const char *p = strrchr(buf, ')'); /* after the command name */
		if (p == NULL ||
				sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
						&ut, &st) != 2) {
			ut = st = 0;
		}
		fclose(f);
	}
	double tick_ms = 1000.0 / (double)sysconf(_SC_CLK_TCK);
	printf("RESULT mode=startup pid=%d serving_ms=%.1f answered_ms=%.1f instances=%ld "
	       "cpu_ms=%.0f\n",
			(int)pid, (double)(t1 - t0) / 1e6, (double)(t_listen - t0) / 1e6, n,
			(double)(ut + st) * tick_ms);
	fflush(stdout);
	return 0;
}

static int mode_rss(const struct options *o)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", o->pid);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		die("cannot read %s", path);
	}
	char line[256];
	unsigned long long rss = 0, anon = 0, file = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "VmRSS: %llu kB", &rss);
		sscanf(line, "RssAnon: %llu kB", &anon);
		sscanf(line, "RssFile: %llu kB", &file);
	}
	fclose(f);
	printf("RESULT mode=rss pid=%d rss=%llu anon=%llu file=%llu\n", o->pid, rss * 1024,
			anon * 1024, file * 1024);
	return 0;
}

/* Print @p n ports that are free for both TCP and UDP on 127.0.0.1, each
 * chosen by the kernel: a benchmark never takes a port someone else uses. */
static int mode_ports(uint64_t n)
{
	int held[64];
	uint64_t got = 0;
	while (got < n && got < 64) {
		int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {
				.sin_family = AF_INET, .sin_addr = {htonl(INADDR_LOOPBACK)}};
		socklen_t al = sizeof(a);
		if (t < 0 || bind(t, (struct sockaddr *)&a, sizeof(a)) < 0 ||
				getsockname(t, (struct sockaddr *)&a, &al) < 0) {
			die("cannot bind: %s", strerror(errno));
		}
		int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (u >= 0 && bind(u, (struct sockaddr *)&a, sizeof(a)) == 0) {
			printf("%u\n", ntohs(a.sin_port));
			held[got++] = t;
			close(u);
			continue;
		}
		close(t);
		if (u >= 0) {
			close(u);
		}
	}
	for (uint64_t k = 0; k < got; k++) {
		close(held[k]);
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: loadgen MODE [options] [-- command...]\n"
		     "modes: heartbeat register dnsupdate startup rss ports (--count N free ports)\n"
		     "  --server ADDR:PORT   rosterd API, or the DNS peer (dnsupdate)\n"
		     "  --conns N            connections (default 4)\n"
		     "  --window N           unanswered requests per connection (default 32)\n"
		     "  --duration S         seconds of load (heartbeat, register, dnsupdate)\n"
		     "  --count N            requests instead of a duration\n"
		     "  --leases N           heartbeat: leases to open first (default 10000)\n"
		     "  --id-base N          first registration number (unique instances)\n"
		     "  --services N         instances spread over N services (default 1000)\n"
		     "  --leased             register under one lease per connection\n"
		     "  --zone NAME          dnsupdate: the peer's zone (default example.net)\n"
		     "  --pidfile F --log F  startup: where to write the child's pid and output\n"
		     "                       (--count N: serving = a Query returns >= N instances)\n"
		     "  --pid PID            rss: the process\n"
		     "  --token T            send Authenticate(T) first on every connection\n"
		     "  --rate R             at most R requests a second, evenly spaced\n");
}

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

int main(int argc, char **argv)
{
	static struct options o = {
			.server = "127.0.0.1:7600",
			.conns = 4,
			.window = 32,
			.leases = 10000,
			.services = 1000,
			.zone = "example.net",
	};
	static const struct option longopts[] = {
			{"server", required_argument, NULL, 's'},
			{"conns", required_argument, NULL, 'c'},
			{"window", required_argument, NULL, 'w'},
			{"duration", required_argument, NULL, 'd'},
			{"count", required_argument, NULL, 'n'},
			{"leases", required_argument, NULL, 'l'},
			{"id-base", required_argument, NULL, 'b'},
			{"services", required_argument, NULL, 'S'},
			{"leased", no_argument, NULL, 'L'},
			{"zone", required_argument, NULL, 'z'},
			{"pidfile", required_argument, NULL, 'p'},
			{"log", required_argument, NULL, 'o'},
			{"pid", required_argument, NULL, 'P'},
			{"token", required_argument, NULL, 'T'},
			{"rate", required_argument, NULL, 'R'},
			{"help", no_argument, NULL, 'h'},
			{NULL, 0, NULL, 0},
	};
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	o.mode = argv[1];
	optind = 2;
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o.server = optarg;
			break;
		case 'c':
			o.conns = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'w':
			o.window = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			o.duration = strtod(optarg, NULL);
			break;
		case 'n':
			o.count = strtoull(optarg, NULL, 10);
			break;
		case 'l':
			o.leases = strtoull(optarg, NULL, 10);
			break;
		case 'T':
			o.token = optarg;
			break;
		case 'R':
			o.rate = strtod(optarg, NULL);
			break;
		case 'b':
			o.id_base = strtoull(optarg, NULL, 10);
			break;
		case 'S':
			o.services = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'L':
			o.leased = true;
			break;
		case 'z':
			o.zone = optarg;
			break;
		case 'p':
			o.pidfile = optarg;
			break;
		case 'o':
			o.log = optarg;
			break;
		case 'P':
			o.pid = atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	o.cmd = argv + optind;
	if (o.conns < 1 || o.conns > MAX_CONNS || o.window < 1 || o.window > SLOTS / 2 ||
			o.services < 1) {
		die("%s", "--conns 1..256, --window 1..32768, --services >= 1");
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	static struct gen g;
	g.o = &o;
	g.nconns = o.conns;
	if (strcmp(o.mode, "heartbeat") == 0) {
		return mode_heartbeat(&g);
	}
	if (strcmp(o.mode, "register") == 0) {
		return mode_register(&g);
	}
	if (strcmp(o.mode, "dnsupdate") == 0) {
		return mode_dnsupdate(&g);
	}
	if (strcmp(o.mode, "startup") == 0) {
		return mode_startup(&o);
	}
	if (strcmp(o.mode, "ports") == 0) {
		return mode_ports(o.count);
	}
	if (strcmp(o.mode, "rss") == 0) {
		return mode_rss(&o);
	}
	usage(stderr);
	return 2;
}
