#include "client/cli/doctor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/name.h"
#include "roster/client.h"

#define DOCTOR_MAX_CHECKS 128
#define DOCTOR_SKEW_MS 10000u /* a serial ahead of our clock by more: not the clock scheme */

struct check {
	char name[96];
	bool ok;
	char detail[400];
};

struct doctor {
	const struct args *a;
	const char *token; /* NULL: none */
	uint32_t timeout_ms;
	struct check checks[DOCTOR_MAX_CHECKS];
	size_t n;
};

static void record(struct doctor *d, bool ok, const char *name, const char *fmt, ...)
		__attribute__((format(printf, 4, 5)));

static void record(struct doctor *d, bool ok, const char *name, const char *fmt, ...)
{
	if (d->n == DOCTOR_MAX_CHECKS) {
		return;
	}
	struct check *c = &d->checks[d->n++];
	c->ok = ok;
	snprintf(c->name, sizeof(c->name), "%s", name);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

/* ---- sockets -------------------------------------------------------------- */

static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = rs_clock_mono_ms();
		if (now >= deadline) {
			return -ETIMEDOUT;
		}
		struct pollfd p = {.fd = fd, .events = events};
		int rc = poll(&p, 1, (int)(deadline - now));
		if (rc > 0) {
			return 0;
		}
		if (rc < 0 && errno != EINTR) {
			return -errno;
		}
	}
}

/* A connected socket (UDP or TCP) to @p endpoint, non-blocking. */
static int dial(const char *endpoint, int type, uint64_t deadline, int *out)
{
	struct sockaddr_storage ss;
	if (rs_endpoint_parse(endpoint, 0, &ss) != 0) {
		return -EINVAL;
	}
	int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	socklen_t len = ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
						: sizeof(struct sockaddr_in6);
	int rc = connect(fd, (struct sockaddr *)&ss, len) == 0 ? 0 : -errno;
	if (rc == -EINPROGRESS) {
		rc = wait_fd(fd, POLLOUT, deadline);
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
				soerr != 0) {
			rc = -soerr;
		}
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

static int send_all(int fd, const void *buf, size_t len, uint64_t deadline)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			int rc = wait_fd(fd, POLLOUT, deadline);
			if (rc < 0) {
				return rc;
			}
			continue;
		}
		if (w < 0) {
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Read exactly @p len octets, or until the peer closes when @p upto is set
 * (then returns the count). */
static ssize_t recv_upto(int fd, void *buf, size_t len, bool upto, uint64_t deadline)
{
	size_t got = 0;
	while (got < len) {
		ssize_t r = recv(fd, (uint8_t *)buf + got, len - got, 0);
		if (r == 0) {
			return upto ? (ssize_t)got : -ECONNRESET;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			int rc = wait_fd(fd, POLLIN, deadline);
			if (rc < 0) {
				return rc;
			}
			continue;
		}
		if (r < 0) {
			return -errno;
		}
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* ---- DNS ------------------------------------------------------------------ */

struct dns_answer {
	uint8_t msg[65535];
	size_t len;
};

/* One query for @p name @p qtype over UDP or TCP; the response in @p ans. */
static int dns_ask(const char *endpoint, bool tcp, const char *name, uint16_t qtype,
		uint64_t deadline, struct dns_answer *ans)
{
	uint8_t q[300] = {0};
	uint16_t id = (uint16_t)(rs_clock_mono_ms() * 2654435761u);
	q[0] = (uint8_t)(id >> 8);
	q[1] = (uint8_t)id;
	q[5] = 1; /* QDCOUNT */
	int wl = rs_name_to_wire(name, 0, q + 12);
	if (wl < 0) {
		return wl;
	}
	size_t len = 12 + (size_t)wl;
	q[len++] = (uint8_t)(qtype >> 8);
	q[len++] = (uint8_t)qtype;
	q[len++] = 0;
	q[len++] = 1; /* IN */
	int fd;
	int rc = dial(endpoint, tcp ? SOCK_STREAM : SOCK_DGRAM, deadline, &fd);
	if (rc < 0) {
		return rc;
	}
	if (tcp) {
		uint8_t lenp[2] = {(uint8_t)(len >> 8), (uint8_t)len};
		rc = send_all(fd, lenp, 2, deadline);
		rc = rc == 0 ? send_all(fd, q, len, deadline) : rc;
		ssize_t r = rc == 0 ? recv_upto(fd, lenp, 2, false, deadline) : rc;
		size_t want = (size_t)lenp[0] << 8 | lenp[1];
		r = r >= 0 ? recv_upto(fd, ans->msg, want, false, deadline) : r;
		rc = r < 0 ? (int)r : 0;
		ans->len = want;
	} else {
		rc = send_all(fd, q, len, deadline);
		while (rc == 0) {
			ssize_t r = recv(fd, ans->msg, sizeof(ans->msg), 0);
			if (r >= 12 && ans->msg[0] == q[0] && ans->msg[1] == q[1]) {
				ans->len = (size_t)r;
				break;
			}
			rc = r < 0 && errno != EAGAIN && errno != EINTR
					     ? -errno
					     : wait_fd(fd, POLLIN, deadline);
		}
	}
	close(fd);
	if (rc == 0 && ans->len < 12) {
		rc = -EBADMSG; /* TCP only: UDP waits on past a short datagram */
	} else if (rc == 0 && (ans->msg[0] != q[0] || ans->msg[1] != q[1])) {
		rc = -EPROTO; /* TCP only: UDP waits on past another id (a spoof) */
	}
	return rc;
}

/* The name at @p off (following compression) as text; the offset after it
 * in the record (not after a pointer's target), or -1. */
static long name_read(const struct dns_answer *a, size_t off, char *text, size_t textsz)
{
	size_t out = 0, end = 0, hops = 0;
	while (off < a->len && hops < 64) {
		uint8_t l = a->msg[off];
		if ((l & 0xc0) == 0xc0) {
			if (off + 1 >= a->len) {
				return -1;
			}
			end = end != 0 ? end : off + 2;
			off = (size_t)(l & 0x3f) << 8 | a->msg[off + 1];
			hops++;
			continue;
		}
		if (l == 0) {
			if (text != NULL && out == 0 && textsz > 1) {
				text[out++] = '.'; /* the root */
			}
			if (text != NULL) {
				text[out < textsz ? out : textsz - 1] = '\0';
			}
			return (long)(end != 0 ? end : off + 1);
		}
		if (off + 1 + l > a->len) {
			return -1;
		}
		for (uint8_t k = 0; text != NULL && k < l && out + 2 < textsz; k++) {
			text[out++] = (char)rs_ascii_lower(a->msg[off + 1 + k]);
		}
		if (text != NULL && out + 1 < textsz) {
			text[out++] = '.';
		}
		off += 1 + (size_t)l;
	}
	return -1;
}

static const char *const rcode_names[16] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
		"REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"};

/* Walk the answer section: calls @p cb with each record of @p type; the
 * count of them, or -1 with @p why (may be NULL) saying what is wrong: the
 * rcode, a question for another type, or a name or record running past
 * the end (a compression loop too). */
static int answers_of(const struct dns_answer *a, uint16_t type,
		void (*cb)(const struct dns_answer *a, size_t rdata, uint16_t rdlen, void *ud),
		void *ud, char *why, size_t whysz)
{
	char unused[160]; /* the reason, when the caller does not want it */
	if (why == NULL) {
		why = unused;
		whysz = sizeof(unused);
	}
	unsigned rcode = a->msg[3] & 0x0f, qd = (unsigned)a->msg[4] << 8 | a->msg[5],
		 an = (unsigned)a->msg[6] << 8 | a->msg[7];
	if (rcode != 0) {
		snprintf(why, whysz, "rcode %u (%s)", rcode,
				rcode_names[rcode] != NULL ? rcode_names[rcode] : "unassigned");
		return -1;
	}
	long off = 12;
	for (unsigned i = 0; i < qd; i++) {
		off = name_read(a, (size_t)off, NULL, 0);
		if (off < 0 || (size_t)off + 4 > a->len) {
			snprintf(why, whysz, "malformed answer: question %u runs past its end",
					i + 1);
			return -1;
		}
		uint16_t qt = (uint16_t)(a->msg[off] << 8 | a->msg[off + 1]);
		if (i == 0 && qt != type) {
			snprintf(why, whysz, "the answer is to another question (type %u)", qt);
			return -1;
		}
		off += 4;
	}
	int found = 0;
	for (unsigned i = 0; i < an; i++) {
		off = name_read(a, (size_t)off, NULL, 0);
		bool fits = off >= 0 && (size_t)off + 10 <= a->len;
		const uint8_t *p = fits ? a->msg + off : a->msg;
		uint16_t t = (uint16_t)(p[0] << 8 | p[1]), rdlen = (uint16_t)(p[8] << 8 | p[9]);
		const char *bad = off < 0 ? "its owner name is cut short or loops"
				  : !fits ? "its type, class, TTL or length is cut short"
				  : (size_t)off + 10 + rdlen > a->len ? "its data runs past the end"
								      : NULL;
		if (bad != NULL) {
			snprintf(why, whysz, "malformed answer: record %u of %u: %s", i + 1, an,
					bad);
			return -1;
		}
		if (t == type) {
			cb(a, (size_t)off + 10, rdlen, ud);
			found++;
		}
		off += 10 + rdlen;
	}
	return found;
}

static void soa_serial_cb(const struct dns_answer *a, size_t rdata, uint16_t rdlen, void *ud)
{
	long off = name_read(a, rdata, NULL, 0);
	off = off >= 0 ? name_read(a, (size_t)off, NULL, 0) : off;
	if (off >= 0 && (size_t)off + 4 <= rdata + rdlen) {
		const uint8_t *p = a->msg + off;
		*(int64_t *)ud = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
					   (uint32_t)p[2] << 8 | p[3]);
	}
}

/* The zone's SOA serial at @p endpoint; -1 with @p why set on failure. */
static int64_t soa_serial(struct doctor *d, const char *endpoint, bool tcp, const char *zone,
		char *why, size_t whysz)
{
	struct dns_answer *ans = malloc(sizeof(*ans));
	if (ans == NULL) {
		snprintf(why, whysz, "out of memory");
		return -1;
	}
	int64_t serial = -1;
	int rc = dns_ask(endpoint, tcp, zone, 6 /* SOA */, rs_clock_mono_ms() + d->timeout_ms, ans);
	char bad[160];
	if (rc == -ETIMEDOUT) {
		snprintf(why, whysz, "no answer in %u ms (packets dropped, or nothing listens)",
				d->timeout_ms);
	} else if (rc == -EBADMSG || rc == -EPROTO || rc == -ECONNRESET) {
		snprintf(why, whysz, "%s",
				rc == -EBADMSG  ? "malformed answer: shorter than a DNS header"
				: rc == -EPROTO ? "the answer's id is not the query's"
						: "the connection was closed or reset mid-answer");
	} else if (rc < 0) {
		snprintf(why, whysz, "%s", strerror(-rc));
	} else if ((rc = answers_of(ans, 6, soa_serial_cb, &serial, bad, sizeof(bad))) < 0) {
		snprintf(why, whysz, "no SOA for %s: %s", zone, bad);
	} else if (serial < 0) {
		snprintf(why, whysz, "no SOA for %s in the answer%s", zone,
				rc > 0 ? " (its record is too short for a serial)" : "");
	}
	free(ans);
	return serial;
}

/* ---- the checks ----------------------------------------------------------- */

/* What the doctor reads in a registry's /metrics; -1 where it is absent. */
struct metrics_seen {
	int static_ok;     /* roster_static_ok */
	int64_t published; /* roster_dns_zone_serial (0: no zone versions, no --xfr-allow) */
	int warming;       /* roster_dns_zone_warming (--xfr-warmup) */
};

/* The value of the sample @p name (no labels) in @p body, or -1. */
static int64_t metric_value(const char *body, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = strstr(body, name); p != NULL; p = strstr(p + n, name)) {
		if (p > body && p[-1] == '\n' && p[n] == ' ') {
			return strtoll(p + n + 1, NULL, 10);
		}
	}
	return -1;
}

/* GET /metrics: 0 when it is rosterd's, with what it says in @p seen. */
static int http_metrics(struct doctor *d, const char *endpoint, struct metrics_seen *seen,
		char *why, size_t whysz)
{
	uint64_t deadline = rs_clock_mono_ms() + d->timeout_ms;
	int fd = -1; /* dial() sets it only when it connects */
	int rc = dial(endpoint, SOCK_STREAM, deadline, &fd);
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: roster-doctor\r\n\r\n";
	rc = rc == 0 ? send_all(fd, req, sizeof(req) - 1, deadline) : rc;
	size_t cap = 4u << 20;
	char *body = rc == 0 ? malloc(cap + 1) : NULL;
	rc = rc == 0 && body == NULL ? -ENOMEM : rc;
	ssize_t got = body != NULL ? recv_upto(fd, body, cap, true, deadline) : rc;
	if (fd >= 0) {
		close(fd);
	}
	if (got < 0) {
		snprintf(why, whysz, "%s",
				got == -ETIMEDOUT ? "no answer in time" : strerror((int)-got));
		free(body);
		return -1;
	}
	body[got] = '\0';
	rc = 0;
	if (strncmp(body, "HTTP/1.", 7) != 0 || strncmp(body + 8, " 200", 4) != 0 ||
			strstr(body, "roster_build_info") == NULL) {
		snprintf(why, whysz, "GET /metrics: not a 200 with roster_build_info");
		rc = -1;
	}
	seen->static_ok = (int)metric_value(body, "roster_static_ok");
	seen->published = metric_value(body, "roster_dns_zone_serial");
	seen->warming = (int)metric_value(body, "roster_dns_zone_warming");
	free(body);
	return rc;
}

/* One registry's instances, "service/protocol host:port STATUS" lines,
 * sorted, newline-separated, in a malloc'd string. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *instance_set(struct roster_client *c, char *why, size_t whysz)
{
	struct roster_list *l = NULL;
	if (roster_list(c, &l) != 0) {
		snprintf(why, whysz, "%s", roster_errmsg());
		return NULL;
	}
	char **lines = NULL;
	size_t n = 0, cap = 0, bytes = 1;
	bool failed = false;
	for (size_t s = 0; s < l->n_services && !failed; s++) {
		struct roster_result *r = NULL;
		if (roster_query(c, l->services[s].service, l->services[s].protocol,
				    ROSTER_QUERY_ALL, &r) != 0) {
			snprintf(why, whysz, "%s", roster_errmsg());
			failed = true;
			break;
		}
		for (size_t i = 0; i < r->n_instances && !failed; i++) {
			const struct roster_instance *in = &r->instances[i];
			if (n == cap) {
				cap = cap == 0 ? 64 : cap * 2;
				char **nl = realloc(lines, cap * sizeof(*nl));
				failed = nl == NULL;
				lines = nl != NULL ? nl : lines;
			}
			char line[600];
			snprintf(line, sizeof(line), "%s/%s %s:%u %s", in->service, in->protocol,
					in->host, in->port, roster_status_name(in->status));
			if (!failed && (lines[n] = strdup(line)) != NULL) {
				bytes += strlen(line) + 1;
				n++;
			} else if (!failed) {
				failed = true; /* an instance left out would read as a disagreement
						*/
			}
			if (failed) {
				snprintf(why, whysz, "out of memory");
			}
		}
		roster_result_free(r);
	}
	roster_list_free(l);
	char *out = failed ? NULL : calloc(1, bytes);
	if (!failed && out == NULL) {
		snprintf(why, whysz, "out of memory");
	}
	if (n > 0) {
		qsort(lines, n, sizeof(*lines), cmp_str);
	}
	for (size_t i = 0; i < n; i++) {
		if (out != NULL) {
			strcat(out, lines[i]);
			strcat(out, "\n");
		}
		free(lines[i]);
	}
	free(lines);
	return out;
}

static void ns_name_cb(const struct dns_answer *a, size_t rdata, uint16_t rdlen, void *ud)
{
	(void)rdlen;
	char name[RS_NAME_TEXT_MAX + 2];
	if (name_read(a, rdata, name, sizeof(name)) >= 0) {
		char *set = ud;
		if (strlen(set) + strlen(name) + 2 < 2048) {
			strcat(set, name);
			strcat(set, " ");
		}
	}
}

/* An A (4 octets) or AAAA (16) record's address; one of another length is
 * not an address, whichever type it came as. */
struct addr_ud {
	char *set;
	uint16_t type;
};

static void addr_cb(const struct dns_answer *a, size_t rdata, uint16_t rdlen, void *ud)
{
	const struct addr_ud *u = ud;
	char text[INET6_ADDRSTRLEN];
	if (rdlen == (u->type == 1 ? 4 : 16) &&
			inet_ntop(rdlen == 4 ? AF_INET : AF_INET6, a->msg + rdata, text,
					sizeof(text))) {
		char *set = u->set;
		if (strlen(set) + strlen(text) + 2 < 2048) {
			strcat(set, text);
			strcat(set, " ");
		}
	}
}

/* The addresses of an NS name: from the registry when the name is in the
 * zone (its glue), else from this machine's resolver. */
static void ns_addresses(
		struct doctor *d, const char *dns, const char *zone, const char *ns, char *set)
{
	size_t nl = strlen(ns), zl = strlen(zone);
	if (nl > zl && strcmp(ns + nl - zl, zone) == 0 && ns[nl - zl - 1] == '.') {
		struct dns_answer *ans = malloc(sizeof(*ans));
		for (int k = 0; ans != NULL && k < 2; k++) {
			uint16_t t = k == 0 ? 1 : 28;
			if (dns_ask(dns, false, ns, t, rs_clock_mono_ms() + d->timeout_ms, ans) ==
					0) {
				struct addr_ud u = {set, t};
				(void)answers_of(ans, t, addr_cb, &u, NULL, 0);
			}
		}
		free(ans);
		return;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
	char host[RS_NAME_TEXT_MAX + 2];
	snprintf(host, sizeof(host), "%s", ns);
	if (nl > 1 && host[nl - 1] == '.') {
		host[nl - 1] = '\0'; /* /etc/hosts names have no trailing dot */
	}
	if (getaddrinfo(host, NULL, &hints, &res) != 0) {
		return;
	}
	for (struct addrinfo *p = res; p != NULL; p = p->ai_next) {
		char text[INET6_ADDRSTRLEN];
		const void *src =
				p->ai_family == AF_INET
						? (const void *)&((struct sockaddr_in *)p->ai_addr)
								  ->sin_addr
						: (const void *)&((struct sockaddr_in6 *)p->ai_addr)
								  ->sin6_addr;
		if (inet_ntop(p->ai_family, src, text, sizeof(text)) != NULL &&
				strlen(set) + strlen(text) + 2 < 2048) {
			strcat(set, text);
			strcat(set, " ");
		}
	}
	freeaddrinfo(res);
}

/* The address part of "ADDR:PORT" / "[ADDR]:PORT". */
static void endpoint_host(const char *ep, char *out, size_t outsz)
{
	struct sockaddr_storage ss;
	out[0] = '\0';
	if (rs_endpoint_parse(ep, 0, &ss) == 0) {
		const void *src = ss.ss_family == AF_INET
						  ? (const void *)&((struct sockaddr_in *)&ss)
								    ->sin_addr
						  : (const void *)&((struct sockaddr_in6 *)&ss)
								    ->sin6_addr;
		if (inet_ntop(ss.ss_family, src, out, (socklen_t)outsz) == NULL) {
			out[0] = '\0';
		}
	}
}

/* The NS RRset of each registry: the same everywhere, and naming each
 * registry's DNS address. */
static void check_ns(
		struct doctor *d, const struct doctor_registry *regs, size_t n, const char *zone)
{
	char first[2048] = "", addrs[2048] = "", bad[160] = "";
	bool same = true, got = false;
	struct dns_answer *ans = malloc(sizeof(*ans));
	snprintf(bad, sizeof(bad), "%s", ans != NULL ? "" : ": out of memory");
	for (size_t i = 0; ans != NULL && i < n; i++) {
		char set[2048] = "", why[150] = "no NS record in the answer";
		int rc = dns_ask(regs[i].dns, false, zone, 2, rs_clock_mono_ms() + d->timeout_ms,
				ans);
		if (rc != 0) {
			continue; /* the DNS checks already failed it */
		}
		if (answers_of(ans, 2, ns_name_cb, set, why, sizeof(why)) <= 0) {
			snprintf(bad, sizeof(bad), " (%s)", why);
			continue;
		}
		if (!got) {
			snprintf(first, sizeof(first), "%s", set);
			got = true;
			char copy[2048], *save = NULL;
			snprintf(copy, sizeof(copy), "%s", set);
			for (char *ns = strtok_r(copy, " ", &save); ns != NULL;
					ns = strtok_r(NULL, " ", &save)) {
				ns_addresses(d, regs[i].dns, zone, ns, addrs);
			}
		} else if (strcmp(first, set) != 0) {
			same = false;
			record(d, false, "ns", "%s serves NS %s; %s serves %s", regs[0].dns, first,
					regs[i].dns, set);
		}
	}
	free(ans);
	if (!got) {
		record(d, false, "ns", "no registry answered NS for %s%s", zone, bad);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char host[INET6_ADDRSTRLEN + 2], word[INET6_ADDRSTRLEN + 4];
		endpoint_host(regs[i].dns, host, sizeof(host));
		snprintf(word, sizeof(word), " %s ", host);
		char padded[2056];
		snprintf(padded, sizeof(padded), " %s", addrs);
		if (strstr(padded, word) == NULL) {
			record(d, false, "ns",
					"registry %s (DNS %s) is not an address of the NS of %s (%s-> %s)",
					regs[i].api, regs[i].dns, zone, first,
					addrs[0] != '\0' ? addrs : "no address");
			return;
		}
	}
	if (same) {
		record(d, true, "ns",
				"every registry serves NS %sand each registry's address is one of theirs",
				first);
	}
}

/* RFC 1982: how far @p a is ahead of @p b (negative: behind). */
static int64_t serial_diff(uint32_t a, uint32_t b)
{
	return (int64_t)(int32_t)(a - b);
}

struct reg_state {
	bool api_ok;
	char *set;
	int64_t serial;
	/* Its serial scheme (docs/dns.md "Zone versions"): 1 the clock's (it
	 * publishes versions, --xfr-allow), 0 the store revision's, -1 unknown
	 * (no /metrics). */
	int clock_scheme;
};

static void check_registry(struct doctor *d, const struct doctor_registry *r, char *zone,
		size_t zonesz, struct reg_state *st)
{
	char name[96], why[300];
	const char *servers[] = {r->api};
	struct roster_config cfg = {.servers = servers,
			.n_servers = 1,
			.timeout_ms = d->timeout_ms,
			.token = d->token};
	struct roster_client *c = NULL;
	struct roster_stats s;
	snprintf(name, sizeof(name), "%s api", r->api);
	if (roster_client_new(&cfg, &c) == 0 && roster_stats(c, &s) == 0) {
		st->api_ok = true;
		if (zone[0] == '\0') {
			snprintf(zone, zonesz, "%s", s.zone);
		}
		st->set = instance_set(c, why, sizeof(why));
		record(d, st->set != NULL, name,
				"site %s, revision %" PRIu64 ", %" PRIu64 " instance%s%s%s", s.site,
				s.revision, s.instances, s.instances == 1 ? "" : "s",
				st->set != NULL ? "" : "; listing failed: ",
				st->set != NULL ? "" : why);
	} else {
		record(d, false, name, "%s", roster_errmsg());
	}
	roster_client_free(c);
}

static void check_dns_http(struct doctor *d, const struct doctor_registry *r, const char *zone,
		struct reg_state *st)
{
	char name[96], why[300];
	st->serial = -1;
	for (int tcp = 0; tcp < 2; tcp++) {
		snprintf(name, sizeof(name), "%s dns-%s", r->dns, tcp ? "tcp" : "udp");
		if (zone[0] == '\0') {
			record(d, false, name, "zone unknown: no registry's API answered");
			continue;
		}
		int64_t serial = soa_serial(d, r->dns, tcp, zone, why, sizeof(why));
		if (serial >= 0) {
			record(d, true, name, "SOA %s serial %" PRId64, zone, serial);
			st->serial = tcp ? st->serial : serial;
		} else {
			record(d, false, name, "%s", why);
		}
	}
	snprintf(name, sizeof(name), "%s http", r->http);
	struct metrics_seen seen;
	st->clock_scheme = -1;
	if (http_metrics(d, r->http, &seen, why, sizeof(why)) == 0) {
		st->clock_scheme = seen.published < 0 ? -1 : seen.published > 0;
		record(d, true, name, "GET /metrics: 200");
		if (seen.static_ok == 0) {
			snprintf(name, sizeof(name), "%s static", r->http);
			record(d, false, name,
					"roster_static_ok 0: the --static file was refused "
					"(its log names the line)");
		}
		if (seen.warming == 1) {
			snprintf(name, sizeof(name), "%s warm-up", r->http);
			record(d, false, name,
					"roster_dns_zone_warming 1: it started with an empty store and "
					"holds its first zone version for --xfr-warmup (transfers "
					"refused, no NOTIFY; its SOA serial %" PRId64
					" is a placeholder older than its peers')",
					seen.published);
		}
	} else {
		record(d, false, name, "%s", why);
	}
}

static void check_agreement(struct doctor *d, const struct doctor_registry *regs,
		const struct reg_state *st, size_t n)
{
	size_t ref = n;
	bool agree = true;
	for (size_t i = 0; i < n; i++) {
		if (st[i].set == NULL) {
			continue;
		}
		if (ref == n) {
			ref = i;
		} else if (strcmp(st[ref].set, st[i].set) != 0) {
			agree = false;
			/* Name the first line one has and the other lacks. */
			const char *a = st[ref].set, *b = st[i].set;
			while (*a != '\0' && *a == *b) {
				a++, b++;
			}
			while (a > st[ref].set && a[-1] != '\n') {
				a--;
			}
			char line[300];
			snprintf(line, sizeof(line), "%.*s", (int)strcspn(a, "\n"), a);
			record(d, false, "agree instances",
					"%s and %s differ (first difference: %s)", regs[ref].api,
					regs[i].api,
					line[0] != '\0' ? line : "an instance only the second has");
		}
	}
	if (ref == n) {
		record(d, false, "agree instances", "no registry listed its instances");
	} else if (agree) {
		record(d, true, "agree instances",
				"every registry that answered holds the same instances");
	}
}

/*
 * Serials (docs/dns.md "Zone versions"): one scheme for the whole site, as
 * each registry's /metrics says (roster_dns_zone_serial 0: no versions,
 * the store revision's serial), and on the clock's none ahead of our
 * clock. A registry that forgot --xfr-allow serves small revision serials
 * beside its peers' clock ones, and a secondary listing both never follows
 * it. @return 1 the clock's, 0 the revision's, -1 mixed or unknown.
 */
static int check_serials(struct doctor *d, const struct doctor_registry *regs,
		const struct reg_state *st, size_t n, uint32_t *newest)
{
	size_t clock = n, rev = n;
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		clock = st[i].clock_scheme == 1 && clock == n ? i : clock;
		rev = st[i].clock_scheme == 0 && rev == n ? i : rev;
		if (st[i].serial >= 0 &&
				(!any || serial_diff((uint32_t)st[i].serial, *newest) > 0)) {
			*newest = (uint32_t)st[i].serial;
		}
		any = any || st[i].serial >= 0;
	}
	if (clock < n && rev < n) {
		record(d, false, "agree serials",
				"%s publishes clock serials (--xfr-allow) but %s serves its store "
				"revision (no --xfr-allow): a secondary listing both never follows "
				"the second",
				regs[clock].dns, regs[rev].dns);
		return -1;
	}
	uint32_t now = (uint32_t)rs_clock_wall_ms();
	bool ok = any;
	for (size_t i = 0; i < n && rev == n; i++) {
		uint32_t s = (uint32_t)st[i].serial;
		if (st[i].serial >= 0 && serial_diff(s, now) > (int64_t)DOCTOR_SKEW_MS) {
			ok = false;
			record(d, false, "agree serials",
					"%s serves serial %u, %.1f s ahead of this clock: "
					"not the clock scheme (is --xfr-allow set? is its clock right?)",
					regs[i].dns, s, (double)serial_diff(s, now) / 1000);
		}
	}
	if (ok && rev < n) {
		record(d, true, "agree serials",
				"every registry serves its store revision (no --xfr-allow: no zone to "
				"transfer); newest %u",
				*newest);
	} else if (ok) {
		record(d, true, "agree serials",
				"clock serials%s, none ahead of this clock; newest %u",
				clock < n ? " (--xfr-allow)" : "", *newest);
	}
	return rev < n ? 0 : clock < n ? 1 : -1;
}

static void check_secondaries(
		struct doctor *d, uint32_t newest, bool known, int scheme, const char *zone)
{
	char name[96], why[300];
	for (size_t i = 0; i < d->a->n_secondaries; i++) {
		const char *sec = d->a->secondaries[i];
		snprintf(name, sizeof(name), "%s secondary", sec);
		if (zone[0] == '\0') {
			record(d, false, name, "zone unknown: no registry's API answered");
			continue;
		}
		int64_t serial = soa_serial(d, sec, false, zone, why, sizeof(why));
		if (serial < 0) {
			record(d, false, name, "%s", why);
		} else if (scheme == 0) {
			/* Revision serials are no times, and nothing is published. */
			record(d, false, name,
					"serial %" PRId64
					", but the registries publish no zone (no "
					"--xfr-allow): it cannot follow them",
					serial);
		} else if (!known) {
			record(d, false, name,
					"serial %" PRId64 ", and no registry's serial to compare",
					serial);
		} else {
			int64_t behind = serial_diff(newest, (uint32_t)serial);
			uint32_t lag = d->a->max_lag_ms != 0 ? d->a->max_lag_ms : 5000;
			record(d, behind <= (int64_t)lag, name,
					behind <= 0 ? "serial %" PRId64 ", current"
						    : "serial %" PRId64
						      ", %.1f s behind the registries' %u",
					serial, (double)behind / 1000, newest);
		}
	}
}

static void print(const struct doctor *d, FILE *out)
{
	if (!d->a->json) {
		for (size_t i = 0; i < d->n; i++) {
			fprintf(out, "%-4s %s: %s\n", d->checks[i].ok ? "ok" : "FAIL",
					d->checks[i].name, d->checks[i].detail);
		}
		return;
	}
	fputs("{\"checks\":[", out);
	for (size_t i = 0; i < d->n; i++) {
		fprintf(out, "%s{\"check\":\"%s\",\"ok\":%s,\"detail\":\"", i > 0 ? "," : "",
				d->checks[i].name, d->checks[i].ok ? "true" : "false");
		for (const char *p = d->checks[i].detail; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\') {
				fputc('\\', out);
			}
			fputc((unsigned char)*p >= 0x20 ? *p : ' ', out);
		}
		fputs("\"}", out);
	}
	bool all = true;
	for (size_t i = 0; i < d->n; i++) {
		all = all && d->checks[i].ok;
	}
	fprintf(out, "],\"ok\":%s}\n", all ? "true" : "false");
}

int doctor_run(const struct args *a, const struct doctor_registry *regs, size_t n,
		const char *token, FILE *out)
{
	struct doctor *d = calloc(1, sizeof(*d));
	struct reg_state *st = calloc(n + 1, sizeof(*st));
	if (d == NULL || st == NULL) {
		free(d);
		free(st);
		fprintf(stderr, "roster: doctor: out of memory\n");
		return 1;
	}
	d->a = a;
	d->token = token;
	d->timeout_ms = a->timeout_ms != 0 ? a->timeout_ms : 2000;
	char zone[RS_NAME_TEXT_MAX + 2] = "";
	for (size_t i = 0; i < n; i++) {
		check_registry(d, &regs[i], zone, sizeof(zone), &st[i]);
	}
	for (size_t i = 0; i < n; i++) {
		check_dns_http(d, &regs[i], zone, &st[i]);
	}
	uint32_t newest = 0;
	check_agreement(d, regs, st, n);
	int scheme = check_serials(d, regs, st, n, &newest);
	bool known = false;
	for (size_t i = 0; i < n; i++) {
		known = known || st[i].serial >= 0;
	}
	if (zone[0] != '\0') {
		check_ns(d, regs, n, zone);
	}
	check_secondaries(d, newest, known, scheme, zone);
	print(d, out);
	int rc = 0;
	for (size_t i = 0; i < d->n; i++) {
		rc = d->checks[i].ok ? rc : 1;
	}
	for (size_t i = 0; i < n; i++) {
		free(st[i].set);
	}
	free(st);
	free(d);
	return rc;
}
