/*
 * NOTIFY on a private loop, to a real UDP socket on 127.0.0.1 that plays
 * the secondary: it parses each NOTIFY, may drop it, acknowledge it, or
 * answer another rcode. Retries, their backoff, coalescing, supersession,
 * reply matching and the signer hook are observed there; every test closes
 * the loop with nothing left (uv_loop_close() == 0).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "common/addr.h"
#include "common/error.h"
#include "common/name.h"
#include "common/wire.h"
#include "server/dns/dnswire.h"
#include "server/dns/notify.h"

#define ZONE "services.lon6.example.net."
#define MAX_SEEN 256

/* The secondary. */
struct seen {
	uint16_t id;
	uint32_t serial;
	uint16_t arcount;
	uint64_t at_ms; /* uv_hrtime() at arrival, ms */
	uint8_t mac;    /* the fake signature's byte, when signed */
};

static uv_loop_t loop;
static uv_udp_t target, stranger;
static struct sockaddr_storage target_addr;
static struct seen seen[MAX_SEEN];
static size_t nseen;
static unsigned drop_first;      /* NOTIFYs not answered at first */
static int answer_rcode;         /* the rcode of an answer */
static bool answer_wrong_first;  /* first a reply that must not match */
static bool answer_badsig_first; /* first a reply that fails verify */
static bool answer_odd_first;    /* first a short datagram and a QUERY reply */
static bool parse_ok = true;     /* every NOTIFY was well formed */
static char parse_fault[200] = "";
static struct notify *n;

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

static void fault(const char *what)
{
	if (parse_ok) {
		snprintf(parse_fault, sizeof(parse_fault), "%s", what);
	}
	parse_ok = false;
}

/* Check one NOTIFY as a secondary reads it; record its ID and serial. */
static void notify_parse(const uint8_t *m, size_t len, struct seen *s)
{
	uint8_t zone[RS_NAME_WIRE_MAX];
	int zl = rs_name_to_wire(ZONE, 0, zone);
	cr_assert_gt(zl, 0);
	struct rs_wire_reader r;
	rs_wire_reader_init(&r, m, len);
	uint16_t flags, qd, an, ns, ar, type, cls, rdlen, ptr;
	uint32_t ttl;
	(void)rs_wire_read_u16(&r, &s->id);
	(void)rs_wire_read_u16(&r, &flags);
	(void)rs_wire_read_u16(&r, &qd);
	(void)rs_wire_read_u16(&r, &an);
	(void)rs_wire_read_u16(&r, &ns);
	(void)rs_wire_read_u16(&r, &ar);
	s->arcount = ar;
	if (flags != (4u << 11 | DNSWIRE_AA) || qd != 1 || an != 1 || ns != 0) {
		fault("header: want opcode NOTIFY, AA, QR=0, one question and one answer");
	}
	const uint8_t *q = NULL;
	(void)rs_wire_read_view(&r, (size_t)zl, &q);
	(void)rs_wire_read_u16(&r, &type);
	(void)rs_wire_read_u16(&r, &cls);
	if (q == NULL || memcmp(q, zone, (size_t)zl) != 0 || type != DNSWIRE_SOA || cls != 1) {
		fault("question: want <apex> SOA IN");
	}
	(void)rs_wire_read_u16(&r, &ptr);
	(void)rs_wire_read_u16(&r, &type);
	(void)rs_wire_read_u16(&r, &cls);
	(void)rs_wire_read_u32(&r, &ttl);
	(void)rs_wire_read_u16(&r, &rdlen);
	if (ptr != 0xC00C || type != DNSWIRE_SOA || cls != 1 || ttl != 5) {
		fault("answer: want the apex SOA IN, TTL 5");
	}
	uint8_t mname[RS_NAME_WIRE_MAX], rname[RS_NAME_WIRE_MAX];
	int ml = rs_name_to_wire("ns1.example.net.", 0, mname);
	int rl = rs_name_to_wire("hostmaster.example.net.", 0, rname);
	const uint8_t *rd = NULL;
	(void)rs_wire_read_view(&r, rdlen, &rd);
	if (rd == NULL || rdlen != ml + rl + 20 || memcmp(rd, mname, (size_t)ml) != 0 ||
			memcmp(rd + ml, rname, (size_t)rl) != 0) {
		fault("SOA RDATA: want ns1.example.net. hostmaster.example.net. and 5 numbers");
		return;
	}
	const uint8_t *num = rd + ml + rl;
	s->serial = rs_wire_load_u32(num);
	if (rs_wire_load_u32(num + 4) != 60 || rs_wire_load_u32(num + 8) != 30 ||
			rs_wire_load_u32(num + 12) != 604800 || rs_wire_load_u32(num + 16) != 5) {
		fault("SOA timers: want 60 30 604800 5");
	}
	/* Signed: the fake signer's record, 11 octets, its last the MAC byte. */
	if (ar == 1 && rs_wire_reader_left(&r) == 11) {
		s->mac = m[len - 1];
	} else if (ar != 0 || rs_wire_reader_left(&r) != 0 || rs_wire_reader_error(&r) < 0) {
		fault("trailing bytes or a short message");
	}
}

/* Answer @p m (a NOTIFY of length @p len) from @p from with @p rcode. */
static void reply(uv_udp_t *from, const uint8_t *m, size_t len, const struct sockaddr *to,
		uint16_t id, int rcode, int mac)
{
	uint8_t out[600];
	cr_assert_leq(len, sizeof(out));
	memcpy(out, m, len);
	rs_wire_store_u16(out, id);
	rs_wire_store_u16(out + 2, (uint16_t)(DNSWIRE_QR | 4u << 11 | DNSWIRE_AA | rcode));
	size_t n_out = len;
	if (mac >= 0) {
		out[len - 1] = (uint8_t)mac; /* the signer's record, echoed with this MAC */
	}
	uv_buf_t b = uv_buf_init((char *)out, (unsigned)n_out);
	cr_assert_geq(uv_udp_try_send(from, &b, 1, to), 0);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h, (void)suggested;
	static char storage[4096];
	*buf = uv_buf_init(storage, sizeof(storage));
}

static void target_recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
		const struct sockaddr *addr, unsigned flags)
{
	(void)flags;
	if (nread <= 0 || addr == NULL) {
		return;
	}
	cr_assert_lt(nseen, MAX_SEEN);
	struct seen *s = &seen[nseen++];
	s->at_ms = now_ms();
	const uint8_t *m = (const uint8_t *)buf->base;
	notify_parse(m, (size_t)nread, s);
	if (nseen <= drop_first) {
		return;
	}
	int mac = s->arcount == 1 ? s->mac : -1;
	if (answer_wrong_first) {
		answer_wrong_first = false;
		reply(h, m, (size_t)nread, addr, (uint16_t)(s->id + 1), 0, mac); /* another ID */
		reply(&stranger, m, (size_t)nread, addr, s->id, 0, mac);         /* another port */
		uint8_t q[600];
		memcpy(q, m, (size_t)nread); /* QR=0: a query, not a reply */
		uv_buf_t b = uv_buf_init((char *)q, (unsigned)nread);
		cr_assert_geq(uv_udp_try_send(h, &b, 1, addr), 0);
		return;
	}
	if (answer_odd_first) {
		answer_odd_first = false;
		uv_buf_t b = uv_buf_init((char *)m, 5);
		cr_assert_geq(uv_udp_try_send(h, &b, 1, addr), 0);
		uint8_t q[600];
		memcpy(q, m, (size_t)nread);
		rs_wire_store_u16(q + 2, (uint16_t)(DNSWIRE_QR | DNSWIRE_AA)); /* opcode QUERY */
		b = uv_buf_init((char *)q, (unsigned)nread);
		cr_assert_geq(uv_udp_try_send(h, &b, 1, addr), 0);
		return;
	}
	if (answer_badsig_first) {
		answer_badsig_first = false;
		reply(h, m, (size_t)nread, addr, s->id, 0, mac ^ 0x55);
		return;
	}
	reply(h, m, (size_t)nread, addr, s->id, answer_rcode, mac);
}

static void udp_open(uv_udp_t *u, const char *ip, struct sockaddr_storage *bound)
{
	cr_assert_eq(uv_udp_init(&loop, u), 0);
	struct sockaddr_storage ss;
	cr_assert_eq(rs_endpoint_parse(ip, 1, &ss), 0);
	((struct sockaddr_in *)&ss)->sin_port = 0; /* sin6_port is at the same place */
	cr_assert_eq(uv_udp_bind(u, (const struct sockaddr *)&ss, 0), 0);
	int len = sizeof(*bound);
	cr_assert_eq(uv_udp_getsockname(u, (struct sockaddr *)bound, &len), 0);
	cr_assert_eq(uv_udp_recv_start(u, alloc_cb, target_recv_cb), 0);
}

static void setup(void)
{
	cr_assert_eq(uv_loop_init(&loop), 0);
	memset(seen, 0, sizeof(seen));
	nseen = 0;
	drop_first = 0;
	answer_rcode = DNSWIRE_NOERROR;
	answer_wrong_first = answer_badsig_first = answer_odd_first = false;
	parse_ok = true;
	parse_fault[0] = '\0';
	n = NULL;
	struct sockaddr_storage unused;
	udp_open(&target, "127.0.0.1", &target_addr);
	udp_open(&stranger, "127.0.0.1", &unused);
}

static void teardown(void)
{
	notify_stop(n);
	uv_close((uv_handle_t *)&target, NULL);
	uv_close((uv_handle_t *)&stranger, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	notify_free(n);
	cr_expect_eq(uv_loop_close(&loop), 0, "a handle was left open");
	cr_expect(parse_ok, "%s", parse_fault);
}

TestSuite(notify, .init = setup, .fini = teardown, .timeout = 30);

static struct notify_config config_of(
		const struct sockaddr_storage *t, uint32_t interval, uint32_t first, uint32_t max)
{
	return (struct notify_config){.zone = ZONE,
			.mname = "ns1.example.net.",
			.rname = "hostmaster.example.net.",
			.ttl = 5,
			.refresh = 60,
			.retry = 30,
			.expire = 604800,
			.minimum = 5,
			.targets = t,
			.ntargets = 1,
			.interval_ms = interval,
			.retry_first_ms = first,
			.retry_max_ms = max};
}

static void start(
		uint32_t interval, uint32_t first, uint32_t max, const struct notify_signer *signer)
{
	struct notify_config c = config_of(&target_addr, interval, first, max);
	char err[200];
	cr_assert_eq(notify_new(&c, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(notify_start(n, &loop, signer, err, sizeof(err)), 0, "%s", err);
}

/* A timer that only wakes the loop, so that run_until() can look. */
static uv_timer_t tick;

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

/* Run the loop until @p pred holds or @p ms pass; whether it held. */
static bool run_until(bool (*pred)(void), uint64_t ms)
{
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, tick_cb, 2, 2);
	uint64_t end = now_ms() + ms;
	bool ok;
	while (!(ok = pred != NULL && pred()) && now_ms() < end) {
		uv_run(&loop, UV_RUN_ONCE);
	}
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	return ok;
}

/* Run the loop for @p ms while nothing is expected (the test then checks
 * that nothing came). */
static void run_for(uint64_t ms)
{
	(void)run_until(NULL, ms);
}

static struct notify_counters counters(void)
{
	struct notify_counters c;
	notify_counters_get(n, &c);
	return c;
}

static bool acked_once(void)
{
	return counters().acked >= 1;
}

static bool failed_once(void)
{
	return counters().failed >= 1;
}

Test(notify, a_change_goes_out_at_once_with_the_soa_and_an_ack_ends_it)
{
	start(1000, 40, 1000, NULL);
	uint64_t t0 = now_ms();
	notify_zone_changed(n, 7);
	cr_assert(run_until(acked_once, 5000), "never acknowledged");
	cr_expect_eq(nseen, 1);
	cr_expect_eq(seen[0].serial, 7);
	cr_expect_lt(seen[0].at_ms - t0, 500, "the leading edge waits for nothing");
	run_for(200); /* five retry waits: an acknowledged NOTIFY is not sent again */
	cr_expect_eq(nseen, 1, "sent again after its acknowledgement");
	struct notify_counters c = counters();
	cr_expect(c.sent == 1 && c.acked == 1 && c.retried == 0 && c.failed == 0);
	notify_zone_changed(n, 7); /* the same serial again: nothing to say */
	run_for(100);
	cr_expect_eq(nseen, 1);
}

Test(notify, unanswered_is_retried_with_a_doubling_wait_up_to_the_cap)
{
	drop_first = 4;
	start(10, 40, 160, NULL);
	notify_zone_changed(n, 42);
	cr_assert(run_until(acked_once, 5000), "never acknowledged");
	cr_assert_eq(nseen, 5, "four drops, then the fifth is acknowledged");
	const uint64_t want[] = {40, 80, 160, 160};
	for (size_t k = 1; k < 5; k++) {
		cr_expect_eq(seen[k].id, seen[0].id, "a retry is the same message");
		cr_expect_eq(seen[k].serial, 42);
		uint64_t gap = seen[k].at_ms - seen[k - 1].at_ms;
		/* Arrival times: a late arrival of the previous one shortens a gap. */
		cr_expect_geq(gap + 10, want[k - 1], "retry %zu after %llu ms, want %llu", k,
				(unsigned long long)gap, (unsigned long long)want[k - 1]);
	}
	run_for(400);
	cr_expect_eq(nseen, 5, "sent again after its acknowledgement");
	struct notify_counters c = counters();
	cr_expect(c.sent == 1 && c.retried == 4 && c.acked == 1 && c.failed == 0,
			"sent %llu retried %llu acked %llu failed %llu", (unsigned long long)c.sent,
			(unsigned long long)c.retried, (unsigned long long)c.acked,
			(unsigned long long)c.failed);
}

/* A burst, then a change every few ms: sends bounded by the interval, the
 * first at once with the first serial, the last with the last. */
static uv_timer_t changer;
static uint32_t next_serial;
static uint32_t last_serial;

static void changer_cb(uv_timer_t *t)
{
	notify_zone_changed(n, next_serial++);
	if (next_serial > last_serial) {
		uv_timer_stop(t);
	}
}

static bool last_serial_acked(void)
{
	return nseen > 0 && seen[nseen - 1].serial == last_serial && counters().acked == nseen;
}

Test(notify, changes_within_the_interval_are_folded_and_the_last_serial_wins)
{
	const uint32_t interval = 60;
	start(interval, 1000, 1000, NULL);
	uint64_t t0 = now_ms();
	for (uint32_t s = 1; s <= 1000; s++) {
		notify_zone_changed(n, s);
	}
	next_serial = 1001;
	last_serial = 1100;
	uv_timer_init(&loop, &changer);
	uv_timer_start(&changer, changer_cb, 3, 3); /* 100 more over about 300 ms */
	cr_assert(run_until(last_serial_acked, 5000), "the last serial never went out");
	uint64_t span = now_ms() - t0;
	uv_close((uv_handle_t *)&changer, NULL);
	cr_expect_eq(seen[0].serial, 1, "the leading edge carries the first change");
	cr_expect_leq(nseen, span / interval + 2, "%zu NOTIFYs in %llu ms", nseen,
			(unsigned long long)span);
	cr_expect_geq(nseen, 3);
	for (size_t k = 1; k < nseen; k++) {
		cr_expect_geq(seen[k].at_ms - seen[k - 1].at_ms + 10, interval,
				"two in one interval");
		cr_expect_gt(seen[k].serial, seen[k - 1].serial);
	}
	size_t before = nseen;
	run_for(3 * interval);
	cr_expect_eq(nseen, before, "nothing more after the last change");
	cr_expect_eq(counters().sent, nseen);
	cr_expect_eq(counters().retried, 0);
}

static bool three_sent(void)
{
	return nseen >= 3;
}

static bool superseded_retried(void)
{
	return nseen >= 5;
}

Test(notify, a_newer_serial_supersedes_the_outstanding_one)
{
	drop_first = 1000;
	start(10, 100, 10000, NULL);
	notify_zone_changed(n, 1);
	cr_assert(run_until(three_sent, 5000)); /* the first, retried after 100 and 200 ms */
	cr_expect(seen[1].id == seen[0].id && seen[2].id == seen[0].id);
	notify_zone_changed(n, 2); /* the next retry of serial 1 would be 400 ms away */
	cr_assert(run_until(superseded_retried, 5000));
	cr_expect_eq(seen[3].serial, 2);
	cr_expect_neq(seen[3].id, seen[0].id, "a new serial is a new message");
	cr_expect_eq(seen[4].serial, 2, "and the old serial is not retried");
	cr_expect_eq(seen[4].id, seen[3].id);
	uint64_t gap = seen[4].at_ms - seen[3].at_ms;
	cr_expect(gap + 10 >= 100 && gap < 350, "the schedule restarts at 100 ms: %llu ms",
			(unsigned long long)gap);
	struct notify_counters c = counters();
	cr_expect(c.sent == 2 && c.retried == 3 && c.acked == 0);
}

Test(notify, an_error_rcode_fails_it_without_retries)
{
	answer_rcode = DNSWIRE_NOTAUTH;
	start(10, 30, 1000, NULL);
	notify_zone_changed(n, 5);
	cr_assert(run_until(failed_once, 5000));
	run_for(200);
	cr_expect_eq(nseen, 1, "a refusal is final for its serial");
	struct notify_counters c = counters();
	cr_expect(c.sent == 1 && c.failed == 1 && c.acked == 0 && c.retried == 0);
	answer_rcode = DNSWIRE_NOERROR;
	notify_zone_changed(n, 6); /* the next serial tries again */
	cr_assert(run_until(acked_once, 5000));
	cr_expect_eq(nseen, 2);
	cr_expect_eq(seen[1].serial, 6);
}

Test(notify, replies_that_do_not_match_are_ignored)
{
	answer_wrong_first = true;
	start(10, 40, 1000, NULL);
	notify_zone_changed(n, 9);
	cr_assert(run_until(acked_once, 5000));
	/* Another ID, another source port, a query: none acknowledged the
	 * first message, so it was sent again and that one was. */
	cr_expect_eq(nseen, 2);
	cr_expect_eq(seen[1].id, seen[0].id);
	struct notify_counters c = counters();
	cr_expect(c.sent == 1 && c.retried == 1 && c.acked == 1 && c.failed == 0);
}

/* A fake signer: appends an 11-octet record (root owner, type 250, class
 * ANY, TTL 0, RDLENGTH 0... less the last octet, then a MAC byte that
 * counts the signatures) and wants its MAC echoed in the reply's last octet. */
static unsigned signatures;

static int fake_sign(
		void *ctx, uint8_t *msg, size_t *len, size_t cap, uint8_t *mac, size_t *mac_len)
{
	(void)ctx;
	cr_assert_geq(cap, (size_t)NOTIFY_MSG_MAX, "room for a TSIG RR");
	cr_assert_leq(*len + 600, cap, "room for a TSIG RR with long names");
	static const uint8_t rr[10] = {0, 0, 250, 0, 255, 0, 0, 0, 0, 0};
	memcpy(msg + *len, rr, sizeof(rr));
	uint8_t m = (uint8_t)(0xA0 + ++signatures);
	msg[*len + 10] = m;
	*len += 11;
	rs_wire_store_u16(msg + 10, 1); /* ARCOUNT */
	mac[0] = m;
	*mac_len = 1;
	return 0;
}

static int fake_verify(
		void *ctx, const uint8_t *msg, size_t len, const uint8_t *mac, size_t mac_len)
{
	(void)ctx;
	return mac_len == 1 && msg[len - 1] == mac[0] ? 0 : RS_EPROTO;
}

Test(notify, each_transmission_is_signed_and_verify_gates_the_ack)
{
	answer_badsig_first = true;
	struct notify_signer s = {fake_sign, fake_verify, NULL};
	signatures = 0;
	start(10, 40, 1000, &s);
	notify_zone_changed(n, 3);
	cr_assert(run_until(acked_once, 5000));
	cr_expect_eq(nseen, 2, "the badly signed reply was not an acknowledgement");
	cr_expect_eq(signatures, 2, "signed again for the retry");
	cr_expect(seen[0].arcount == 1 && seen[1].arcount == 1);
	cr_expect(seen[0].mac != seen[1].mac, "a fresh signature per transmission");
}

/* ---- several targets, IPv6, stop ------------------------------------------ */

static bool acked_twice(void)
{
	return counters().acked >= 2;
}

Test(notify, every_target_is_told_over_ipv4_and_ipv6)
{
	static uv_udp_t six; /* closed by the teardown's loop run */
	struct sockaddr_storage six_addr;
	if (uv_udp_init(&loop, &six) != 0) {
		cr_skip_test("no UDP socket");
	}
	struct sockaddr_in6 any6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	if (uv_udp_bind(&six, (const struct sockaddr *)&any6, 0) != 0) {
		uv_close((uv_handle_t *)&six, NULL);
		cr_skip_test("no ::1 on this host");
	}
	int len = sizeof(six_addr);
	cr_assert_eq(uv_udp_getsockname(&six, (struct sockaddr *)&six_addr, &len), 0);
	cr_assert_eq(uv_udp_recv_start(&six, alloc_cb, target_recv_cb), 0);
	struct sockaddr_storage both[2] = {target_addr, six_addr};
	struct notify_config c = config_of(both, 10, 40, 1000);
	c.ntargets = 2;
	char err[200];
	cr_assert_eq(notify_new(&c, &n, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(notify_start(n, &loop, NULL, err, sizeof(err)), 0, "%s", err);
	notify_zone_changed(n, 11);
	cr_assert(run_until(acked_twice, 5000), "both acknowledged");
	cr_expect_eq(nseen, 2);
	cr_expect(seen[0].serial == 11 && seen[1].serial == 11);
	uv_close((uv_handle_t *)&six, NULL);
}

Test(notify, stopping_with_notifies_in_flight_leaves_nothing)
{
	drop_first = 1000;
	start(100, 20, 1000, NULL);
	notify_zone_changed(n, 1);
	notify_zone_changed(n, 2); /* pending behind the interval */
	run_for(10);
	notify_stop(n);
	notify_zone_changed(n, 3); /* ignored once stopped */
				   /* teardown runs the loop, frees, and checks uv_loop_close() */
}

struct bad_config {
	char zone[40];
	int family;
	size_t ntargets;
	char word[40];
};

ParameterizedTestParameters(notify, bad_configs_are_refused_with_a_reason)
{
	static struct bad_config cases[] = {
			{ZONE, AF_INET, 0, "no target"},
			{"bad..zone.", AF_INET, 1, "bad name"},
			{ZONE, AF_UNIX, 1, "not an IPv4 or IPv6"},
	};
	return cr_make_param_array(struct bad_config, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_config *bc, notify, bad_configs_are_refused_with_a_reason)
{
	struct sockaddr_storage t = target_addr;
	t.ss_family = (sa_family_t)bc->family;
	struct notify_config c = config_of(&t, 10, 10, 10);
	c.zone = bc->zone;
	c.ntargets = bc->ntargets;
	char err[200] = "";
	struct notify *x = (struct notify *)1;
	cr_expect_lt(notify_new(&c, &x, err, sizeof(err)), 0);
	cr_expect_null(x);
	cr_expect(strstr(err, bc->word) != NULL, "'%s' does not say '%s'", err, bc->word);
}

/* A signer that fails (its error, or a message or MAC longer than the
 * room it was given) makes the transmission unsendable: counted as failed,
 * retried, and acknowledged once the signer works. */
static unsigned sign_failures;

static int failing_sign(
		void *ctx, uint8_t *msg, size_t *len, size_t cap, uint8_t *mac, size_t *mac_len)
{
	switch (sign_failures++) {
	case 0:
		return RS_ENOMEM;
	case 1:
		*len = cap + 1; /* longer than the scratch */
		return 0;
	case 2:
		*mac_len = NOTIFY_MAC_MAX + 1;
		return 0;
	default:
		return fake_sign(ctx, msg, len, cap, mac, mac_len);
	}
}

static bool failed_three_times(void)
{
	return counters().failed >= 3;
}

Test(notify, a_signer_that_fails_is_retried_until_it_signs)
{
	struct notify_signer s = {failing_sign, fake_verify, NULL};
	sign_failures = 0;
	signatures = 0;
	start(10, 20, 40, &s);
	notify_zone_changed(n, 4);
	cr_assert(run_until(failed_three_times, 5000));
	cr_assert(run_until(acked_once, 5000), "acknowledged once signed");
	cr_expect_eq(nseen, 1, "nothing went out unsigned");
	struct notify_counters c = counters();
	cr_expect_eq(c.failed, 3);
	cr_expect_eq(c.sent, 0, "the first transmission failed");
	cr_expect_eq(c.retried, 1);
}

/* An rcode past the names (12) still fails it. */
Test(notify, an_rcode_without_a_name_fails_it)
{
	answer_rcode = 12;
	start(10, 1000, 1000, NULL);
	notify_zone_changed(n, 8);
	cr_assert(run_until(failed_once, 5000));
	struct notify_counters c = counters();
	cr_expect_eq(c.acked, 0);
	cr_expect_eq(c.failed, 1);
}

/* A datagram too short for a header, and a reply with the right ID but
 * opcode QUERY, acknowledge nothing: the retry's reply does. */
Test(notify, short_and_other_opcode_replies_are_ignored)
{
	answer_odd_first = true;
	start(10, 40, 1000, NULL);
	notify_zone_changed(n, 9);
	cr_assert(run_until(acked_once, 5000));
	cr_expect_eq(nseen, 2);
	struct notify_counters c = counters();
	cr_expect(c.sent == 1 && c.retried == 1 && c.acked == 1 && c.failed == 0);
}

/* notify_zone_changed() before notify_start() and after notify_stop() does
 * nothing; retry_max below retry_first is raised to it. */
Test(notify, changes_outside_its_life_are_ignored)
{
	struct notify_config c = config_of(&target_addr, 10, 50, 10);
	char err[200];
	cr_assert_eq(notify_new(&c, &n, err, sizeof(err)), 0, "%s", err);
	notify_zone_changed(n, 1); /* not started */
	cr_assert_eq(notify_start(n, &loop, NULL, err, sizeof(err)), 0, "%s", err);
	run_for(50);
	cr_expect_eq(nseen, 0);
	cr_expect_eq(counters().sent, 0);
}

/* A signer without its verify half signs nothing: the messages go out
 * unsigned and a plain reply acknowledges them. */
Test(notify, a_signer_without_verify_is_not_used)
{
	struct notify_signer s = {fake_sign, NULL, NULL};
	signatures = 0;
	start(10, 40, 1000, &s);
	notify_zone_changed(n, 2);
	cr_assert(run_until(acked_once, 5000));
	cr_expect_eq(signatures, 0);
	cr_expect_eq(seen[0].arcount, 0, "unsigned");
}
