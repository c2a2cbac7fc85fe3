#include "server/dns/notify.h"

#include <assert.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/addr.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"
#include "common/name.h"
#include "common/wire.h"
#include "server/dns/dnswire.h"

#define OPCODE_NOTIFY 4u /* RFC 1996 3.1 */
#define CLASS_IN 1u
/* Tries without an acknowledgement after which a target is said to be
 * silent (250 + 500 + 1,000 ms with the default schedule). */
#define SILENT_AFTER 3u
/* Replies are small: a header, the question, maybe a TSIG RR. */
#define REPLY_MAX 4096u

/* What was last logged about a target: its state changes are logged, not
 * each message. */
enum notify_mood {
	MOOD_OK = 0,
	MOOD_SILENT,    /* no acknowledgement after SILENT_AFTER tries */
	MOOD_REFUSING,  /* answered with an error rcode */
	MOOD_BADSIG,    /* a reply failed the signer's verify */
	MOOD_UNSENDABLE /* the socket or the signer refused a message */
};

struct notify_target {
	struct notify *n;
	struct sockaddr_storage addr;
	char text[RS_ADDR_TEXT_MAX];
	uv_timer_t timer;
	bool timer_open;
	bool pending; /* a serial waits for the interval */
	uint32_t pending_serial;
	bool outstanding; /* a message waits for its acknowledgement */
	uint16_t id;
	uint32_t serial;   /* of the outstanding message */
	uint32_t attempts; /* transmissions of it after the first */
	uint64_t retry_at;
	bool ever_sent;
	uint64_t last_send; /* rs_clock_mono_ms() of the last transmission */
	bool has_last;
	uint32_t last_serial; /* of the last message made, whatever came of it */
	uint8_t mac[NOTIFY_MAC_MAX];
	size_t mac_len;
	enum notify_mood mood;
	int mood_detail; /* the rcode of MOOD_REFUSING */
};

struct notify {
	uv_loop_t *loop;
	uv_udp_t sock[2]; /* [0] IPv4, [1] IPv6 */
	bool sock_open[2];
	bool need[2];
	unsigned handles; /* open, or closing and not yet called back */
	bool started, stopping;
	struct notify_signer signer;
	bool signed_msgs;
	uint32_t interval_ms, retry_first_ms, retry_max_ms;
	/* The message less its ID and serial. */
	uint8_t tmpl[NOTIFY_MSG_MAX];
	size_t tmpl_len;
	size_t serial_off;
	uint8_t scratch[NOTIFY_MSG_MAX];
	uint8_t rbuf[REPLY_MAX];
	struct notify_counters counters;
	size_t ntargets;
	struct notify_target targets[];
};

static int family_index(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? 1 : 0;
}

/* The template: header (ID 0), the question, and the SOA in the answer
 * section with serial 0 at serial_off. The SOA's owner points at the
 * question's name (offset 12). */
static int template_build(
		struct notify *n, const struct notify_config *cfg, char *err, size_t errsz)
{
	uint8_t zone[RS_NAME_WIRE_MAX], mname[RS_NAME_WIRE_MAX], rname[RS_NAME_WIRE_MAX];
	const char *names[3] = {cfg->zone, cfg->mname, cfg->rname};
	uint8_t *wires[3] = {zone, mname, rname};
	int lens[3];
	for (size_t k = 0; k < 3; k++) {
		lens[k] = names[k] == NULL ? RS_EINVAL
					   : rs_name_to_wire(names[k], RS_NAME_NUMERIC_TOP,
							     wires[k]);
		if (lens[k] < 0) {
			return rs_error_printf(err, errsz, RS_EINVAL, "notify: bad name '%s': %s",
					names[k] != NULL ? names[k] : "(none)",
					rs_strerror(lens[k]));
		}
	}
	struct rs_wire_writer w;
	rs_wire_writer_init(&w, n->tmpl, sizeof(n->tmpl));
	(void)rs_wire_write_u16(&w, 0); /* ID, per message */
	(void)rs_wire_write_u16(&w, (uint16_t)(OPCODE_NOTIFY << 11 | DNSWIRE_AA));
	(void)rs_wire_write_u16(&w, 1); /* QDCOUNT */
	(void)rs_wire_write_u16(&w, 1); /* ANCOUNT: the SOA (RFC 1996 3.7) */
	(void)rs_wire_write_u16(&w, 0);
	(void)rs_wire_write_u16(&w, 0);
	(void)rs_wire_write_bytes(&w, zone, (size_t)lens[0]);
	(void)rs_wire_write_u16(&w, DNSWIRE_SOA);
	(void)rs_wire_write_u16(&w, CLASS_IN);
	(void)rs_wire_write_u16(&w, 0xC000 | DNSWIRE_HEADER);
	(void)rs_wire_write_u16(&w, DNSWIRE_SOA);
	(void)rs_wire_write_u16(&w, CLASS_IN);
	(void)rs_wire_write_u32(&w, cfg->ttl);
	(void)rs_wire_write_u16(&w, (uint16_t)(lens[1] + lens[2] + 20));
	(void)rs_wire_write_bytes(&w, mname, (size_t)lens[1]);
	(void)rs_wire_write_bytes(&w, rname, (size_t)lens[2]);
	n->serial_off = w.len;
	(void)rs_wire_write_u32(&w, 0);
	(void)rs_wire_write_u32(&w, cfg->refresh);
	(void)rs_wire_write_u32(&w, cfg->retry);
	(void)rs_wire_write_u32(&w, cfg->expire);
	(void)rs_wire_write_u32(&w, cfg->minimum);
	if (rs_wire_writer_error(&w) < 0) {
		return rs_error_printf(err, errsz, RS_EINVAL, "notify: the SOA does not fit");
	}
	n->tmpl_len = w.len;
	return 0;
}

int notify_new(const struct notify_config *cfg, struct notify **out, char *err, size_t errsz)
{
	*out = NULL;
	if (cfg->ntargets == 0) {
		return rs_error_printf(err, errsz, RS_EINVAL, "notify: no target");
	}
	struct notify *n = calloc(1, sizeof(*n) + cfg->ntargets * sizeof(n->targets[0]));
	if (n == NULL) {
		return rs_error_printf(err, errsz, RS_ENOMEM, "notify: out of memory");
	}
	int rc = template_build(n, cfg, err, errsz);
	for (size_t k = 0; rc == 0 && k < cfg->ntargets; k++) {
		struct notify_target *t = &n->targets[k];
		int fam = cfg->targets[k].ss_family;
		if (fam != AF_INET && fam != AF_INET6) {
			rc = rs_error_printf(err, errsz, RS_EINVAL,
					"notify: target %zu is not an IPv4 or IPv6 address", k + 1);
			break;
		}
		t->n = n;
		t->addr = cfg->targets[k];
		rs_endpoint_format((const struct sockaddr *)&t->addr, t->text);
		n->need[family_index(&t->addr)] = true;
	}
	if (rc < 0) {
		free(n);
		return rc;
	}
	n->ntargets = cfg->ntargets;
	n->interval_ms = cfg->interval_ms;
	n->retry_first_ms = cfg->retry_first_ms != 0 ? cfg->retry_first_ms : NOTIFY_RETRY_FIRST_MS;
	n->retry_max_ms = cfg->retry_max_ms != 0 ? cfg->retry_max_ms : NOTIFY_RETRY_MAX_MS;
	if (n->retry_max_ms < n->retry_first_ms) {
		n->retry_max_ms = n->retry_first_ms;
	}
	*out = n;
	return 0;
}

static void sock_closed_cb(uv_handle_t *h)
{
	struct notify *n = h->data;
	n->handles--;
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct notify_target *t = h->data;
	t->n->handles--;
}

void notify_stop(struct notify *n)
{
	if (n == NULL || n->stopping) {
		return;
	}
	n->stopping = true;
	for (size_t k = 0; k < n->ntargets; k++) {
		struct notify_target *t = &n->targets[k];
		if (t->timer_open) {
			t->timer_open = false;
			uv_close((uv_handle_t *)&t->timer, timer_closed_cb);
		}
	}
	for (int f = 0; f < 2; f++) {
		if (n->sock_open[f]) {
			n->sock_open[f] = false;
			uv_close((uv_handle_t *)&n->sock[f], sock_closed_cb);
		}
	}
}

void notify_free(struct notify *n)
{
	if (n == NULL) {
		return;
	}
	assert(n->handles == 0 && "notify_free() before the handles closed");
	free(n);
}

void notify_counters_get(const struct notify *n, struct notify_counters *out)
{
	*out = n->counters;
}

/* ---- state changes worth a log line --------------------------------------- */

static const char *rcode_name(int rcode)
{
	static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
			"REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"};
	return rcode >= 0 && (size_t)rcode < sizeof(names) / sizeof(names[0]) ? names[rcode] : "?";
}

static void mood_set(struct notify_target *t, enum notify_mood mood, int detail, int rc)
{
	if (t->mood == mood && t->mood_detail == detail) {
		return;
	}
	enum notify_mood was = t->mood;
	t->mood = mood;
	t->mood_detail = detail;
	switch (mood) {
	case MOOD_OK:
		if (was != MOOD_OK) {
			rs_log_notice("notify: %s acknowledged serial %u", t->text, t->serial);
		}
		break;
	case MOOD_SILENT:
		rs_log_warning("notify: %s has not acknowledged serial %u after %u tries; "
			       "retrying, at most every %u ms",
				t->text, t->serial, t->attempts + 1, t->n->retry_max_ms);
		break;
	case MOOD_REFUSING:
		rs_log_warning("notify: %s answered NOTIFY for serial %u with %s (rcode %d); "
			       "not retried until the next serial",
				t->text, t->serial, rcode_name(detail), detail);
		break;
	case MOOD_BADSIG:
		rs_log_warning("notify: %s sent a reply that fails verification: %s; ignored",
				t->text, rs_strerror(rc));
		break;
	case MOOD_UNSENDABLE:
		rs_log_warning("notify: cannot send to %s: %s; retrying", t->text, rs_strerror(rc));
		break;
	}
}

/* ---- sending -------------------------------------------------------------- */

/* Send the outstanding message of @p t once more (or the first time). */
static int transmit(struct notify_target *t)
{
	struct notify *n = t->n;
	memcpy(n->scratch, n->tmpl, n->tmpl_len);
	rs_wire_store_u16(n->scratch, t->id);
	rs_wire_store_u32(n->scratch + n->serial_off, t->serial);
	size_t len = n->tmpl_len;
	if (n->signed_msgs) {
		t->mac_len = 0;
		int rc = n->signer.sign(n->signer.ctx, n->scratch, &len, sizeof(n->scratch), t->mac,
				&t->mac_len);
		if (rc < 0) {
			return rc;
		}
		if (len > sizeof(n->scratch) || t->mac_len > sizeof(t->mac)) {
			return RS_ERANGE;
		}
	}
	uv_buf_t b = uv_buf_init((char *)n->scratch, (unsigned)len);
	int rc = uv_udp_try_send(
			&n->sock[family_index(&t->addr)], &b, 1, (const struct sockaddr *)&t->addr);
	return rc < 0 ? rc : 0;
}

/* The wait before the next transmission of a message sent 1 + @p attempts
 * times: first, doubling, capped. */
static uint64_t backoff(const struct notify *n, uint32_t attempts)
{
	uint64_t w = n->retry_first_ms;
	for (uint32_t k = 0; k < attempts && w < n->retry_max_ms; k++) {
		w *= 2;
	}
	return w < n->retry_max_ms ? w : n->retry_max_ms;
}

/* Send what is due now: a pending serial as a new message (it supersedes
 * the outstanding one), or the outstanding one again. */
static void send_due(struct notify_target *t, uint64_t now)
{
	struct notify *n = t->n;
	bool fresh = t->pending;
	if (fresh) {
		t->pending = false;
		t->outstanding = true;
		t->id = (uint16_t)randombytes_uniform(65536);
		t->serial = t->pending_serial;
		t->attempts = 0;
	} else {
		t->attempts++;
	}
	t->ever_sent = true;
	t->last_send = now;
	t->retry_at = now + backoff(n, t->attempts);
	int rc = transmit(t);
	if (rc < 0) {
		n->counters.failed++;
		mood_set(t, MOOD_UNSENDABLE, 0, rc);
		return;
	}
	if (fresh) {
		n->counters.sent++;
	} else {
		n->counters.retried++;
	}
	if (!fresh && t->attempts + 1 >= SILENT_AFTER && t->mood == MOOD_OK) {
		mood_set(t, MOOD_SILENT, 0, 0);
	}
}

static void target_run(struct notify_target *t);

static void timer_cb(uv_timer_t *h)
{
	target_run(h->data);
}

/* Send what is due and arm the timer for what comes next. */
static void target_run(struct notify_target *t)
{
	struct notify *n = t->n;
	if (n->stopping || !n->started) {
		return;
	}
	for (;;) {
		/* The clock, not uv_now(): the loop's time is that of the
		 * iteration's start, and the interval is a promise. */
		uint64_t now = rs_clock_mono_ms();
		uint64_t gate = t->ever_sent ? t->last_send + n->interval_ms : 0;
		uint64_t due;
		if (t->pending) {
			due = now > gate ? now : gate;
		} else if (t->outstanding) {
			due = t->retry_at > gate ? t->retry_at : gate;
		} else {
			uv_timer_stop(&t->timer);
			return;
		}
		if (due > now) {
			uv_timer_start(&t->timer, timer_cb, due - now, 0);
			return;
		}
		send_due(t, now); /* retry_at is now in the future: the loop ends */
	}
}

void notify_zone_changed(struct notify *n, uint32_t serial)
{
	if (n == NULL || !n->started || n->stopping) {
		return;
	}
	for (size_t k = 0; k < n->ntargets; k++) {
		struct notify_target *t = &n->targets[k];
		if (t->pending ? t->pending_serial == serial
			       : t->has_last && t->last_serial == serial) {
			continue; /* already on its way, or done with */
		}
		t->pending = true;
		t->pending_serial = serial;
		t->has_last = true;
		t->last_serial = serial;
		target_run(t);
	}
}

/* ---- replies -------------------------------------------------------------- */

static bool same_peer(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family) {
		return false;
	}
	if (b->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;
		return x->sin_port == y->sin_port &&
		       memcmp(&x->sin_addr, &y->sin_addr, sizeof(x->sin_addr)) == 0;
	}
	const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
	const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
	return x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

static void reply_handle(
		struct notify *n, const uint8_t *msg, size_t len, const struct sockaddr *from)
{
	if (len < DNSWIRE_HEADER) {
		return;
	}
	uint16_t id = rs_wire_load_u16(msg);
	uint16_t flags = rs_wire_load_u16(msg + 2);
	if (!(flags & DNSWIRE_QR) || DNSWIRE_OPCODE(flags) != OPCODE_NOTIFY) {
		return;
	}
	struct notify_target *t = NULL;
	for (size_t k = 0; k < n->ntargets && t == NULL; k++) {
		struct notify_target *c = &n->targets[k];
		if (c->outstanding && c->id == id && same_peer(&c->addr, from)) {
			t = c;
		}
	}
	if (t == NULL) {
		return; /* late (superseded), spoofed, or not ours */
	}
	if (n->signed_msgs) {
		int rc = n->signer.verify(n->signer.ctx, msg, len, t->mac, t->mac_len);
		if (rc < 0) {
			mood_set(t, MOOD_BADSIG, 0, rc);
			return;
		}
	}
	t->outstanding = false;
	unsigned rcode = flags & 0xfu;
	if (rcode == DNSWIRE_NOERROR) {
		n->counters.acked++;
		mood_set(t, MOOD_OK, 0, 0);
	} else {
		n->counters.failed++;
		mood_set(t, MOOD_REFUSING, (int)rcode, 0);
	}
	target_run(t);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct notify *n = h->data;
	*buf = uv_buf_init((char *)n->rbuf, sizeof(n->rbuf));
}

static void recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
		unsigned flags)
{
	if (nread < 0) {
		return; /* a transient socket error: the retries cover it */
	}
	if (nread == 0 || addr == NULL || (flags & UV_UDP_PARTIAL)) {
		return;
	}
	reply_handle(h->data, (const uint8_t *)buf->base, (size_t)nread, addr);
}

/* ---- start ---------------------------------------------------------------- */

static int socket_open(struct notify *n, int f, char *err, size_t errsz)
{
	uv_udp_t *u = &n->sock[f];
	int rc = uv_udp_init_ex(n->loop, u, f == 0 ? AF_INET : AF_INET6);
	if (rc < 0) {
		return rs_error_printf(err, errsz, rc, "notify: cannot open a UDP socket: %s",
				uv_strerror(rc));
	}
	u->data = n;
	n->sock_open[f] = true;
	n->handles++;
	struct sockaddr_storage any = {0};
	unsigned bflags = 0;
	if (f == 0) {
		((struct sockaddr_in *)&any)->sin_family = AF_INET;
	} else {
		((struct sockaddr_in6 *)&any)->sin6_family = AF_INET6;
		bflags = UV_UDP_IPV6ONLY;
	}
	rc = uv_udp_bind(u, (const struct sockaddr *)&any, bflags);
	if (rc == 0) {
		rc = uv_udp_recv_start(u, alloc_cb, recv_cb);
	}
	if (rc < 0) {
		return rs_error_printf(err, errsz, rc, "notify: cannot bind an %s UDP socket: %s",
				f == 0 ? "IPv4" : "IPv6", uv_strerror(rc));
	}
	return 0;
}

int notify_start(struct notify *n, struct uv_loop_s *loop, const struct notify_signer *signer,
		char *err, size_t errsz)
{
	if (sodium_init() < 0) {
		return rs_error_printf(err, errsz, RS_EIO, "notify: libsodium did not initialise");
	}
	n->loop = loop;
	if (signer != NULL && signer->sign != NULL && signer->verify != NULL) {
		n->signer = *signer;
		n->signed_msgs = true;
	}
	for (size_t k = 0; k < n->ntargets; k++) {
		struct notify_target *t = &n->targets[k];
		uv_timer_init(loop, &t->timer);
		t->timer.data = t;
		t->timer_open = true;
		n->handles++;
	}
	for (int f = 0; f < 2; f++) {
		if (n->need[f]) {
			int rc = socket_open(n, f, err, errsz);
			if (rc < 0) {
				return rc;
			}
		}
	}
	n->started = true;
	return 0;
}
