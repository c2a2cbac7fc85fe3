/*
 * tests/fuzz/fuzz_recv.c - libFuzzer target: rosterd's io_uring UDP receive
 * path (server/dns/dnsio_uring.c) as far as it goes without a kernel. The
 * input is one provided buffer as a multishot recvmsg fills it (struct
 * dnsio_recv_out, then the name, control and payload areas of
 * DNSIO_RECV_NAME, DNSIO_RECV_CONTROL and up to UDP_QUERY_MAX octets); it
 * goes through dnsio_recv_parse(), then what a worker does with the result:
 * the reply's packet-info control message (dnsio_reply_cmsg(), as
 * send_queue() builds it) and the answer (the engine, as fuzz_dns.c drives
 * it, over UDP with the parsed address as the client).
 *
 * Input: one control octet, then the buffer.
 *   bits 0-1  the CQE's result (the octets the kernel wrote), which is also
 *             the size of the heap copy the parser gets (a read past it is
 *             an ASan error):
 *             0  the rest of the input as it is, capped at DNSIO_RECV_BUF
 *             1  what the header says, as a kernel writes it: the areas
 *                plus payloadlen, capped at DNSIO_RECV_BUF (the input is
 *                zero-padded or cut to it)
 *             2  as 1, but 1-8 octets (bits 2-4) shorter: a payload the
 *                buffer does not hold whole
 *             3  1-8 octets (bits 2-4) past DNSIO_RECV_BUF: never valid
 *   bits 5-7  unused
 *
 * Invariants checked (abort() = a finding):
 *   - the buffer is refused exactly when it is malformed: shorter than the
 *     areas, longer than DNSIO_RECV_BUF, or a name length outside
 *     [sizeof(struct sockaddr_in), DNSIO_RECV_NAME];
 *   - on success, the address, control and payload point inside the
 *     buffer; the address length is the header's; a control area is used
 *     only when it fits DNSIO_RECV_CONTROL, holds a header and was not
 *     MSG_CTRUNC; a payload not marked truncated ends inside the buffer,
 *     and MSG_TRUNC always marks it;
 *   - the reply's control message, built from the received one, fits
 *     union udp_cmsg, and what dnsio_reply_cmsg() read of it was received;
 *   - an answered payload gets a response within the UDP cap and the
 *     requestor's size, with QR=1 and the query's ID, parsed by ldns
 *     (fuzz_answer.h).
 */
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "server/dns/answer.h"
#include "server/dns/cookie.h"
#include "server/dns/dnsio_internal.h"
#include "tests/engine_fixture.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_answer.h"

#define WALL_BASE 1700000000u
/* The areas before the payload: header, name, control. */
#define HEAD (sizeof(struct dnsio_recv_out) + DNSIO_RECV_NAME + DNSIO_RECV_CONTROL)

static struct engine_fixture fx;
static uint64_t now_ms = 1000;
static bool verbose; /* FUZZ_VERBOSE=1: a line per input */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rs_log_set_level(RS_LOG_ERROR);
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	/* Cookies and stable subsets: both read the client address. */
	static struct cookie_secrets secrets;
	for (int i = 0; i < COOKIE_SECRET_LEN; i++) {
		secrets.current[i] = (uint8_t)(0x11 * i);
	}
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	cfg.cookies = &secrets;
	cfg.stable_subsets = true;
	CHECK(engine_fixture_open(&fx, &cfg, false) == 0);
	fuzz_register(fx.st, "web", "tcp", "web1.lon6.example.net", 8080, "10.0.0.1",
			STORE_STATUS_UP, NULL, 0);
	fuzz_register(fx.st, "web", "tcp", "web2.lon6.example.net", 8081, "2001:db8::2",
			STORE_STATUS_UP, NULL, 0);
	fuzz_register(fx.st, "dns", "udp", "web1.lon6.example.net", 53, "10.0.0.1", STORE_STATUS_UP,
			NULL, 0);
	/* Enough instances that a UDP answer is a subset picked by the client's
	 * address, or truncated. */
	for (unsigned i = 0; i < 60; i++) {
		char host[64], addr[32];
		snprintf(host, sizeof(host), "big%u.lon6.example.net", i);
		snprintf(addr, sizeof(addr), "10.1.0.%u", i + 1);
		fuzz_register(fx.st, "big", "tcp", host, 1000 + i, addr, STORE_STATUS_UP, NULL, 0);
	}
	return 0;
}

/* Is [@p p, @p p + @p n) inside [@p buf, @p buf + @p len)? */
static bool inside(const uint8_t *buf, size_t len, const void *p, size_t n)
{
	const uint8_t *b = p;
	return b >= buf && b <= buf + len && n <= (size_t)(buf + len - b);
}

/* The CQE's result that control octet @p ctl chooses for the @p n octets
 * of buffer @p in (the modes at the top of this file). */
static size_t result_len(uint8_t ctl, const uint8_t *in, size_t n)
{
	size_t k = 1 + ((ctl >> 2) & 7);
	size_t said = HEAD;
	if (n >= sizeof(struct dnsio_recv_out)) {
		struct dnsio_recv_out o;
		memcpy(&o, in, sizeof(o));
		said += o.payloadlen;
	}
	if (said > DNSIO_RECV_BUF) {
		said = DNSIO_RECV_BUF;
	}
	switch (ctl & 3) {
	case 0:
		return n < DNSIO_RECV_BUF ? n : DNSIO_RECV_BUF;
	case 1:
		return said;
	case 2:
		return said - k;
	default:
		return DNSIO_RECV_BUF + k;
	}
}

/* The parse of @p buf (@p len octets) against what its header says. */
static void check_parse(const uint8_t *buf, size_t len, int rc, const struct dnsio_recv *rx)
{
	struct dnsio_recv_out o = {0};
	if (len >= sizeof(o)) {
		memcpy(&o, buf, sizeof(o));
	}
	bool malformed = len < HEAD || len > DNSIO_RECV_BUF || o.namelen > DNSIO_RECV_NAME ||
			 o.namelen < sizeof(struct sockaddr_in);
	CHECK((rc != 0) == malformed);
	if (rc != 0) {
		return;
	}
	CHECK(rx->addrlen == o.namelen);
	CHECK(rx->addrlen <= DNSIO_RECV_NAME && rx->addrlen >= sizeof(struct sockaddr_in));
	CHECK(inside(buf, len, rx->addr, rx->addrlen));
	if (rx->control != NULL) {
		CHECK(rx->controllen <= DNSIO_RECV_CONTROL);
		CHECK(rx->controllen >= sizeof(struct cmsghdr));
		CHECK(!(o.flags & MSG_CTRUNC));
		CHECK(inside(buf, len, rx->control, rx->controllen));
	} else {
		CHECK(o.controllen > DNSIO_RECV_CONTROL || (o.flags & MSG_CTRUNC) ||
				o.controllen < sizeof(struct cmsghdr));
	}
	CHECK(rx->len == o.payloadlen);
	CHECK(inside(buf, len, rx->payload, 0));
	CHECK(!(o.flags & MSG_TRUNC) || rx->truncated);
	CHECK(rx->truncated || inside(buf, len, rx->payload, rx->len));
}

/* The reply's control message, as the worker's send_queue() builds it. */
static size_t check_reply_cmsg(const struct dnsio_recv *rx)
{
	union udp_cmsg ctl;
	memset(&ctl, 0xa5, sizeof(ctl)); /* a send slot's earlier contents */
	memcpy(ctl.buf, rx->control, rx->controllen);
	struct msghdr m = {.msg_control = ctl.buf, .msg_controllen = rx->controllen};
	size_t cl = dnsio_reply_cmsg(&m);
	CHECK(cl <= sizeof(ctl.buf));
	if (cl > 0) {
		/* What it read and rewrote is the received message, not what the
		 * slot held before. */
		CHECK(ctl.align.cmsg_len <= rx->controllen);
	}
	return cl;
}

/* Answer the payload as the worker does, from the parsed address. */
static void answer(const struct dnsio_recv *rx)
{
	const struct sockaddr *sa = NULL;
	if (rx->addr->sa_family == AF_INET || rx->addr->sa_family == AF_INET6) {
		sa = rx->addr;
	}
	struct answer_client client = {.transport = ANSWER_UDP, .addr = sa, .wall_s = WALL_BASE};
	/* Exactly the worker's send buffer, on the heap: a write past it is
	 * an ASan error. */
	uint8_t *out = malloc(UDP_OUT_MAX);
	CHECK(out != NULL);
	struct answer_result res;
	now_ms += 10000; /* no rate limit carries over between inputs */
	answer_process(fx.an, rx->payload, rx->len, &client, now_ms, out, UDP_OUT_MAX, &res);
	ldns_pkt_free(fuzz_response_check(
			rx->payload, rx->len, ANSWER_UDP, out, UDP_OUT_MAX, &res));
	if (verbose) {
		fprintf(stderr, " client %s, %s", sa == NULL ? "none" : "the name",
				res.action == ANSWER_SEND ? "answered" : "dropped");
		if (res.action == ANSWER_SEND) {
			fprintf(stderr, " rcode %u, %zu octets%s", res.rcode, res.len,
					res.truncated ? " TC" : "");
		}
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) {
		return 0;
	}
	uint8_t ctl = data[0];
	const uint8_t *in = data + 1;
	size_t n = size - 1;
	size_t len = result_len(ctl, in, n);
	/* Exactly the octets the kernel wrote: a read past them is an ASan
	 * error. What the input does not hold is zeros. */
	uint8_t *buf = calloc(1, len > 0 ? len : 1);
	CHECK(buf != NULL);
	memcpy(buf, in, n < len ? n : len);
	struct dnsio_recv rx;
	int rc = dnsio_recv_parse(buf, len, &rx);
	check_parse(buf, len, rc, &rx);
	if (verbose) {
		fprintf(stderr, "fuzz_recv: %zu octets: ", len);
		if (rc == 0) {
			fprintf(stderr, "family %u, name %u, payload %zu%s", rx.addr->sa_family,
					(unsigned)rx.addrlen, rx.len,
					rx.truncated ? " truncated" : "");
		} else {
			fprintf(stderr, "refused");
		}
	}
	if (rc == 0 && rx.control != NULL) {
		size_t cl = check_reply_cmsg(&rx);
		if (verbose) {
			fprintf(stderr, ", control %zu, reply's %zu", rx.controllen, cl);
		}
	}
	if (rc == 0 && !rx.truncated) {
		answer(&rx);
	}
	if (verbose) {
		fprintf(stderr, "\n");
	}
	free(buf);
	return 0;
}
