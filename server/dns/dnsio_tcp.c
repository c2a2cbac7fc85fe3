/*
 * DNS over TCP (RFC 7766): the queries of a connection, answered in order,
 * and zone transfers. The connection machine (listen, accept, caps,
 * deadlines, the bounded write queue) is server/net/tcp.c's; this file only
 * frames queries and hands them to the main thread's answer engine.
 */
#include "server/dns/dnsio_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "server/dns/dnswire.h"
#include "server/dns/xfr.h"
#include "server/net/acl.h"

/* ---- TCP (the connection machine is server/net/tcp.c's) ------------------ */

static void tcp_alloc(struct net_tcp_conn *tc, char **base, size_t *len)
{
	struct dns_conn *c = net_tcp_conn_data(tc);
	*base = (char *)c->rbuf + c->rlen;
	*len = sizeof(c->rbuf) - c->rlen;
}

/* A zone transfer (server/dns/xfr.h): the whole zone is built at once (a
 * snapshot at one serial) and handed to the connection in one send. The
 * DNS listener's overflow policy is PAUSE, so a transfer larger than
 * DNSIO_TCP_OUTQ_MAX is queued whole, never dropped: reading from this
 * connection stops until the queue drains to half, and the transfer must be
 * read within the TCP idle time (docs/dns.md "Zone transfers"). */
static void tcp_transfer(struct dnsio *io, struct net_tcp_conn *tc, const uint8_t *query)
{
	struct xfr_result xr;
	rs_buf_reset(&io->xbuf);
	/* SERVFAIL in xbuf on failure, and without a zone (not allowed then) */
	(void)!xfr_write(io->answer, io->zone, query, XFR_MSG_MAX, &io->xbuf, &xr);
	io->counters.bytes_out[ANSWER_TCP] += io->xbuf.len;
	(void)net_tcp_conn_send(tc, io->xbuf.data, io->xbuf.len); /* a failure closes it */
	if (io->xbuf.cap > XFR_KEEP) {
		rs_buf_deinit(&io->xbuf);
	}
}

/* Answer every whole query in the buffer, in order (RFC 7766 6.2.1.1:
 * pipelined queries; we answer them in the order received), until the
 * connection's queue is too long (reading paused: the rest waits). */
static void tcp_process(struct net_tcp_conn *tc)
{
	struct dnsio *io = net_tcp_conn_user(tc);
	struct dns_conn *c = net_tcp_conn_data(tc);
	dnsio_refresh(io);
	uint32_t units = io->limits.tcp_idle_ms / 100;
	struct answer_client cl = {ANSWER_TCP, net_tcp_conn_peer(tc),
			(uint16_t)(units > UINT16_MAX ? UINT16_MAX : units), (uint32_t)time(NULL)};
	size_t off = 0;
	bool got = false;
	while (c->rlen - off >= 2 && !net_tcp_conn_closing(tc) && !net_tcp_conn_backlogged(tc)) {
		size_t qlen = dnswire_get16(c->rbuf + off);
		if (qlen < DNSWIRE_HEADER || qlen > DNSIO_TCP_QUERY_MAX) {
			/* RFC 7766 8 and catalogue 2.24: nothing sensible follows. */
			io->counters.tcp_bad_length++;
			net_tcp_conn_close(tc);
			return;
		}
		if (c->rlen - off < 2 + qlen) {
			break;
		}
		struct answer_result res;
		answer_process(io->answer, c->rbuf + off + 2, qlen, &cl, uv_now(io->loop),
				io->tbuf + 2, sizeof(io->tbuf) - 2, &res);
		off += 2 + qlen;
		got = true;
		if (res.report) {
			report_log_write(&io->report, &res.fields, cl.addr, rs_clock_wall_ms());
		}
		if (res.xfr_refused) {
			dnsio_refusal_note(&io->refusals, &res, cl.addr);
		}
		if (res.action == ANSWER_TRANSFER) {
			tcp_transfer(io, tc, c->rbuf + off - qlen);
			continue;
		}
		if (res.action != ANSWER_SEND) {
			/* Catalogue 2.1/2.2: garbage or a response closes the connection. */
			net_tcp_conn_close(tc);
			return;
		}
		dnswire_set16(io->tbuf, (uint16_t)res.len);
		io->counters.bytes_out[ANSWER_TCP] += res.len + 2;
		(void)net_tcp_conn_send(tc, io->tbuf, res.len + 2); /* a failure closes it */
	}
	if (off > 0) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	/* The deadline restarts only on a whole query: a client that trickles
	 * bytes or stalls mid-message is closed after the idle time. */
	if (got) {
		net_tcp_conn_frame_done(tc);
	}
}

static void tcp_read(struct net_tcp_conn *tc, const char *data, size_t len)
{
	(void)data; /* it is at rbuf + rlen, where tcp_alloc() put it */
	struct dnsio *io = net_tcp_conn_user(tc);
	struct dns_conn *c = net_tcp_conn_data(tc);
	c->rlen += len;
	io->counters.bytes_in[ANSWER_TCP] += len;
	tcp_process(tc);
}

/* Over a cap: accept and close without a word (NSD tcp-reject-overflow),
 * so ops->refused is NULL. An expired connection closes (ops->expired
 * NULL). After a backpressure pause, the queries read before it. */
static const struct net_tcp_ops dns_tcp_ops = {
		.alloc = tcp_alloc,
		.read = tcp_read,
		.resumed = tcp_process,
};

struct net_tcp_limits dnsio_tcp_limits(const struct dnsio_limits *lim)
{
	return (struct net_tcp_limits){.max_conns = lim->tcp_max_conns,
			.max_per_source = lim->tcp_max_per_source,
			.idle_ms = lim->tcp_idle_ms,
			.max_outbuf = DNSIO_TCP_OUTQ_MAX};
}

int dnsio_tcp_open(struct dnsio *io, void (*stopped)(void *), char *err, size_t errsz)
{
	const char *rz = io->cfg.answer.report_zone != NULL ? io->cfg.answer.report_zone : "";
	char note[2 * RS_NAME_TEXT_MAX + 32];
	snprintf(note, sizeof(note), "(udp, tcp) for %s%s%s", io->cfg.answer.zone,
			rz[0] != '\0' ? " and " : "", rz);
	const struct net_tcp_config tc = {
			.name = "dns",
			.note = note,
			.addrs = io->cfg.listen,
			.naddrs = io->cfg.nlisten,
			.backlog = 1024,
			.limits = dnsio_tcp_limits(&io->limits),
			.overflow = NET_TCP_OVERFLOW_PAUSE,
			.conn_size = sizeof(struct dns_conn),
			.ops = &dns_tcp_ops,
			.user = io,
			.admit = io->cfg.acl != NULL ? acl_admit : NULL,
			.admit_user = io->cfg.acl,
			.stopped = stopped,
	};
	int rc = net_tcp_start(io->loop, &tc, &io->tcp, err, errsz);
	if (io->tcp != NULL) {
		io->handles++;
	}
	return rc;
}
