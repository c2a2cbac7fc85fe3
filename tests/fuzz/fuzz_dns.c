/*
 * tests/fuzz/fuzz_dns.c - libFuzzer target: answer_process() (and through
 * it the pre-validator server/dns/dnswire.c, DNS cookies server/dns/cookie.c and
 * the prepared answers) on arbitrary bytes, against an engine whose store
 * holds a few services, without sockets.
 *
 * Input: one control octet, then the query.
 *   bit 0     transport: 0 UDP, 1 TCP
 *   bits 1-2  client address: IPv4, IPv6, IPv4-mapped IPv6, none
 *   bit 3     round trip: when the query carries a 24-octet COOKIE option and
 *             the response a server cookie, ask again with that cookie, so
 *             the valid-cookie path is reached (the fuzzer cannot forge a
 *             SipHash)
 *   bits 4-7  age of the cookie at the second ask, in 5-minute steps
 *             (0 = same second ... 75 min: fresh, refreshed, expired)
 *
 * Transfers: --xfr-allow covers 192.0.2.0/24 and 2001:db8::/32 (the IPv4,
 * IPv6 and mapped client addresses above), so AXFR and IXFR reach
 * xfr_write(); every framed message of a transfer is checked like a
 * response (within the limit, the query's ID, parsed by ldns).
 *
 * TSIG: the engines hold the key "fuzz-key." (hmac-sha256, FUZZ_TSIG_SECRET
 * below, which gen_corpus.py signs its seeds with at WALL_BASE), so a signed
 * query reaches tsig_request_verify() and its answer (each message of a
 * transfer) is signed. A query whose ID has its top bit set goes to a
 * second engine over the same store that also requires --xfr-key fuzz-key.
 * for transfers (the refusals by reason); the others to one with the ACL
 * alone (so unsigned transfers still reach xfr_write()). Every signed
 * answer to a query that verified is verified back as a client would.
 *
 * Invariants checked on every response (abort() = a finding):
 *   - it never exceeds the cap given, nor the UDP payload size we may send;
 *   - a sent response has QR=1, the query's ID and at least a header;
 *   - ldns_wire2pkt() parses it.
 */
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/log.h"
#include "server/dns/answer.h"
#include "server/dns/cookie.h"
#include "server/dns/dnswire.h"
#include "server/dns/report.h"
#include "server/dns/tsig.h"
#include "server/dns/xfr.h"
#include "server/registry/store.h"
#include "tests/engine_fixture.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_answer.h"

#define ZONE ENGINE_ZONE
#define UDP_MAX ENGINE_UDP_MAX
#define WALL_BASE 1700000000u

#define FUZZ_TSIG_SECRET "ZnV6ei1rZXktc2VjcmV0LWZvci1yb3N0ZXJkLXRzaWc="

static struct engine_fixture fx;
static struct answer *keyed; /* --xfr-key fuzz-key.: IDs with the top bit set */
static struct tsig_keyring *keys;
static uint64_t now_ms = 1000;
static bool verbose; /* FUZZ_VERBOSE=1: one line per response */

static void reg(const char *svc, const char *proto, const char *host, unsigned port,
		const char *addr, enum store_status status, const struct store_meta *meta,
		size_t nmeta)
{
	fuzz_register(fx.st, svc, proto, host, port, addr, status, meta, nmeta);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rs_log_set_level(RS_LOG_ERROR);
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	/* Fixed secrets: runs are reproducible. A previous one too, so the
	 * roll-over branch of the check is reachable. */
	static struct cookie_secrets secrets;
	for (int i = 0; i < COOKIE_SECRET_LEN; i++) {
		secrets.current[i] = (uint8_t)(0x11 * i);
		secrets.previous[i] = (uint8_t)(0x5a ^ i);
	}
	secrets.has_previous = true;
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	cfg.cookies = &secrets;
	static struct rs_prefix allow[2];
	if (rs_prefix_parse("192.0.2.0/24", &allow[0]) < 0 ||
			rs_prefix_parse("2001:db8::/32", &allow[1]) < 0) {
		abort();
	}
	cfg.xfr_allow = allow;
	cfg.nxfr_allow = 2;
	static const char keyfile[] =
			"key \"fuzz-key.\" { algorithm hmac-sha256; secret \"" FUZZ_TSIG_SECRET
			"\"; };\nkey other. { algorithm hmac-sha512; secret \"AAEC\"; };";
	char err[256];
	if (tsig_keyring_parse(keyfile, sizeof(keyfile) - 1, "fuzz", &keys, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_dns: %s\n", err);
		abort();
	}
	cfg.tsig_keys = keys;
	if (engine_fixture_open(&fx, &cfg, false) < 0) {
		abort();
	}
	cfg.xfr_key = &keys->keys[0];
	if (answer_new(&cfg, fx.st, &fx.rep, &keyed) < 0) {
		abort();
	}
	static const struct store_meta meta[] = {{"path", "/v1"}, {"zone", "a"}};
	reg("web", "tcp", "web1.lon6.example.net", 8080, "10.0.0.1", STORE_STATUS_UP, meta, 2);
	reg("web", "tcp", "web2.lon6.example.net", 8081, "2001:db8::2", STORE_STATUS_UP, NULL, 0);
	reg("web", "tcp", "web3.lon6.example.net", 8082, NULL, STORE_STATUS_DOWN, NULL, 0);
	reg("web", "tcp", "elsewhere.example.org", 443, NULL, STORE_STATUS_STARTING, NULL, 0);
	reg("dns", "udp", "web1.lon6.example.net", 53, "10.0.0.1", STORE_STATUS_UP, NULL, 0);
	/* Enough instances that a UDP answer is truncated and a TCP answer is
	 * cut to the subset that fits in 65,535 octets. */
	for (unsigned i = 0; i < 2500; i++) {
		char host[64], addr[32];
		snprintf(host, sizeof(host), "big%u.lon6.example.net", i);
		snprintf(addr, sizeof(addr), "10.%u.%u.%u", 1 + i / 62500, i / 250 % 250,
				i % 250 + 1);
		reg("big", "tcp", host, 1000 + i, addr, STORE_STATUS_UP, NULL, 0);
	}
	/* Versions with differences between them, so that an IXFR from one of
	 * their serials (1,000,000 on) takes the journal's path. */
	bool published;
	if (engine_fixture_zone(&fx, &cfg, 1000000) < 0 ||
			xfr_zone_publish(fx.zone, 1000001, &published) < 0) {
		abort();
	}
	reg("web", "tcp", "web4.lon6.example.net", 8084, "10.0.0.4", STORE_STATUS_UP, NULL, 0);
	if (xfr_zone_publish(fx.zone, 1000002, &published) < 0) {
		abort();
	}
	return 0;
}

/* The server cookie of a response's COOKIE option, if any (16 octets). */
static bool response_cookie(const ldns_pkt *p, uint8_t out[COOKIE_SERVER_LEN])
{
	const ldns_rdf *d = ldns_pkt_edns_data(p);
	if (d == NULL) {
		return false;
	}
	const uint8_t *b = ldns_rdf_data(d);
	size_t n = ldns_rdf_size(d);
	for (size_t off = 0; off + 4 <= n;) {
		uint16_t code = (uint16_t)(b[off] << 8 | b[off + 1]);
		uint16_t len = (uint16_t)(b[off + 2] << 8 | b[off + 3]);
		if (off + 4 + len > n) {
			return false;
		}
		if (code == DNSWIRE_OPT_COOKIE && len == COOKIE_CLIENT_LEN + COOKIE_SERVER_LEN) {
			memcpy(out, b + off + 4 + COOKIE_CLIENT_LEN, COOKIE_SERVER_LEN);
			return true;
		}
		off += 4 + (size_t)len;
	}
	return false;
}

/* A transfer's framed messages: each within the limit, with the query's
 * ID, parsed by ldns; SOA first. */
static void check_transfer(struct answer *an, const uint8_t *q, size_t qlen, uint32_t wall_s)
{
	struct rs_buf b;
	rs_buf_init(&b);
	struct xfr_result xr;
	int rc = xfr_write(an, fx.zone, q, XFR_MSG_MAX, &b, &xr);
	/* A signed request: every message verifies, as a secondary checks it. */
	struct tsig_state cl;
	bool tsig = tsig_request_verify(keys, q, qlen, wall_s, &cl) == TSIG_OK;
	CHECK(rs_buf_error(&b) == 0);
	size_t n = 0;
	for (size_t off = 0; off < b.len; n++) {
		CHECK(off + 2 <= b.len);
		const uint8_t *m = (const uint8_t *)b.data + off + 2;
		size_t len = dnswire_get16(m - 2);
		CHECK(len >= DNSWIRE_HEADER && off + 2 + len <= b.len);
		CHECK(m[0] == q[0] && m[1] == q[1]);
		CHECK(rc != 0 || !tsig || tsig_response_verify(&cl, m, len, wall_s) == TSIG_OK);
		ldns_pkt *p = NULL;
		if (ldns_wire2pkt(&p, m, len) != LDNS_STATUS_OK) {
			fprintf(stderr, "fuzz_dns: transfer message %zu does not parse\n", n);
			abort();
		}
		CHECK(rc != 0 || n > 0 ||
				ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_answer(p), 0)) ==
						LDNS_RR_TYPE_SOA);
		ldns_pkt_free(p);
		off += 2 + len;
	}
	CHECK(rc != 0 || n == xr.messages);
	rs_buf_deinit(&b);
}

/* Ask once and check the invariants. Returns the parsed response (or NULL). */
static ldns_pkt *ask(const uint8_t *q, size_t qlen, enum answer_transport t,
		const struct sockaddr *sa, uint32_t wall_s)
{
	size_t cap = t == ANSWER_TCP ? 65535 : 4096;
	/* Exactly cap octets on the heap: a write past the cap is an ASan error. */
	uint8_t *out = malloc(cap);
	if (out == NULL) {
		abort();
	}
	struct answer_client client = {
			.transport = t,
			.addr = sa,
			.keepalive = t == ANSWER_TCP ? 100 : 0,
			.wall_s = wall_s,
	};
	struct answer_result res;
	/* Ten seconds between queries: the error and report rate limits never
	 * carry over from one input to the next. */
	now_ms += 10000;
	struct answer *an = qlen >= 1 && (q[0] & 0x80) ? keyed : fx.an;
	answer_process(an, q, qlen, &client, now_ms, out, cap, &res);
	if (res.action == ANSWER_TRANSFER) {
		CHECK(t == ANSWER_TCP);
		check_transfer(an, q, qlen, wall_s);
	}
	struct tsig_state cl;
	struct dnswire_query vq;
	enum dnswire_verdict vv = dnswire_query_check(q, qlen, &vq);
	if (res.action == ANSWER_SEND && (vv == DNSWIRE_OK || vv == DNSWIRE_COOKIE_ONLY) &&
			tsig_request_verify(keys, q, qlen, wall_s, &cl) == TSIG_OK) {
		/* A query that verifies gets an answer that verifies. */
		CHECK(tsig_response_verify(&cl, out, res.len, wall_s) == TSIG_OK);
	}
	ldns_pkt *p = fuzz_response_check(q, qlen, t, out, cap, &res);
	if (p != NULL) {
		if (verbose) {
			fprintf(stderr, "fuzz_dns: %s rcode %u, %zu octets, an %u ns %u ar %u%s%s\n",
					t == ANSWER_TCP ? "tcp" : "udp", res.rcode, res.len,
					ldns_pkt_ancount(p), ldns_pkt_nscount(p),
					ldns_pkt_arcount(p), res.truncated ? " TC" : "",
					res.partial ? " partial" : "");
		}
	} else if (verbose) {
		fprintf(stderr, "fuzz_dns: dropped\n");
	}
	free(out);
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) {
		return 0;
	}
	uint8_t ctl = data[0];
	/* A copy of exactly the query's length: reads past it are ASan errors. */
	size_t qlen = size - 1;
	uint8_t *q = malloc(qlen > 0 ? qlen : 1);
	if (q == NULL) {
		abort();
	}
	memcpy(q, data + 1, qlen);
	enum answer_transport t = (ctl & 1) ? ANSWER_TCP : ANSWER_UDP;

	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5353)};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(5353)};
	const struct sockaddr *sa = NULL;
	switch ((ctl >> 1) & 3) {
	case 0:
		inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
		sa = (const struct sockaddr *)&sin;
		break;
	case 1:
		inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr);
		sa = (const struct sockaddr *)&sin6;
		break;
	case 2:
		inet_pton(AF_INET6, "::ffff:192.0.2.7", &sin6.sin6_addr);
		sa = (const struct sockaddr *)&sin6;
		break;
	default:
		break;
	}

	ldns_pkt *p = ask(q, qlen, t, sa, WALL_BASE);
	uint8_t cookie[COOKIE_SERVER_LEN];
	struct dnswire_query dq;
	enum dnswire_verdict v;
	if (p != NULL && (ctl & 8) && response_cookie(p, cookie) &&
			((v = dnswire_query_check(q, qlen, &dq)) == DNSWIRE_OK ||
					v == DNSWIRE_COOKIE_ONLY) &&
			dq.cookie_len == COOKIE_CLIENT_LEN + COOKIE_SERVER_LEN) {
		/* The client comes back with the cookie it was given. */
		memcpy(q + dq.cookie_off + COOKIE_CLIENT_LEN, cookie, COOKIE_SERVER_LEN);
		ldns_pkt_free(ask(q, qlen, t, sa, WALL_BASE + (uint32_t)(ctl >> 4) * 300u));
	}
	ldns_pkt_free(p);
	free(q);
	return 0;
}
