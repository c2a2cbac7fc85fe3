/*
 * DNS response rate limiting: buckets per source prefix and answer, the
 * token refill (time is a parameter), the slip count, exemptions, the
 * classes read from the response, a 4-way set that evicts its least
 * recently used bucket, and exact counts from several threads sharing
 * the table.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/addr.h"
#include "common/error.h"
#include "server/dns/rrl.h"

static struct sockaddr_storage sa(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		cr_assert_eq(inet_pton(AF_INET6, text, &s6->sin6_addr), 1, "%s", text);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		cr_assert_eq(inet_pton(AF_INET, text, &s4->sin_addr), 1, "%s", text);
	}
	return ss;
}

/* A response: header (QR AA, @p rcode, one question, @p ancount answers),
 * the question @p qname @p qtype IN, then one A record per answer. */
struct resp {
	uint8_t b[512];
	size_t len;
};

static struct resp response(const char *qname, uint16_t qtype, unsigned rcode, unsigned ancount)
{
	struct resp r;
	memset(&r, 0, sizeof(r));
	uint8_t *p = r.b;
	p[0] = 0x12, p[1] = 0x34, p[2] = 0x84, p[3] = (uint8_t)rcode;
	p[5] = 1;
	p[7] = (uint8_t)ancount;
	size_t off = 12;
	for (const char *l = qname; *l != '\0';) {
		size_t n = strcspn(l, ".");
		p[off++] = (uint8_t)n;
		memcpy(p + off, l, n);
		off += n;
		l += n + (l[n] == '.');
	}
	p[off++] = 0;
	p[off++] = (uint8_t)(qtype >> 8), p[off++] = (uint8_t)qtype;
	p[off++] = 0, p[off++] = 1;
	for (unsigned i = 0; i < ancount; i++) {
		const uint8_t rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, (uint8_t)i};
		memcpy(p + off, rr, sizeof(rr));
		off += sizeof(rr);
	}
	r.len = off;
	return r;
}

static struct rrl *rrl_of(uint32_t rate, uint32_t slip, const char *exempt, size_t slots)
{
	struct rs_prefix ex;
	struct rrl_config cfg = {.rate = rate, .slip = slip, .slots = slots, .seed = 42};
	if (exempt != NULL) {
		cr_assert_eq(rs_prefix_parse(exempt, &ex), 0);
		cfg.exempt = &ex;
		cfg.nexempt = 1;
	}
	struct rrl *r = NULL;
	cr_assert_eq(rrl_new(&cfg, &r), 0);
	return r;
}

/* One response of class @p r to @p src at @p now; the action. */
static enum rrl_action send_one(struct rrl *rl, const char *src, struct resp r, uint64_t now)
{
	struct sockaddr_storage s = sa(src);
	return rrl_apply(rl, (struct sockaddr *)&s, r.b, &r.len, now);
}

static struct resp web_a(void)
{
	return response("web.services.lon6.example.net", 1, 0, 2);
}

Test(rrl, a_flood_gets_rate_answers_then_slips_every_slip_th)
{
	struct rrl *rl = rrl_of(5, 2, NULL, 64);
	unsigned sent = 0, dropped = 0, slipped = 0;
	enum rrl_action seq[20];
	for (int i = 0; i < 20; i++) {
		seq[i] = send_one(rl, "192.0.2.1", web_a(), 1000);
		sent += seq[i] == RRL_SEND;
		dropped += seq[i] == RRL_DROP;
		slipped += seq[i] == RRL_SLIP;
	}
	cr_expect_eq(sent, 5, "a new bucket holds one second's worth");
	cr_expect_eq(slipped, 7, "every 2nd of the 15 limited");
	cr_expect_eq(dropped, 8);
	cr_expect_eq(seq[5], RRL_DROP, "the 1st limited is dropped");
	cr_expect_eq(seq[6], RRL_SLIP, "the 2nd slips");
	rrl_free(rl);
	rrl_free(NULL);
}

Test(rrl, a_slipped_response_is_the_question_with_tc)
{
	struct rrl *rl = rrl_of(1, 1, NULL, 64);
	struct sockaddr_storage s = sa("192.0.2.1");
	struct resp r = web_a();
	cr_assert_eq(rrl_apply(rl, (struct sockaddr *)&s, r.b, &r.len, 1000), RRL_SEND);
	size_t full = r.len;
	cr_assert_eq(rrl_apply(rl, (struct sockaddr *)&s, r.b, &r.len, 1000), RRL_SLIP);
	size_t qlen = 12 + strlen("web.services.lon6.example.net") + 2 + 4;
	cr_expect_eq(r.len, qlen, "header and question only (was %zu)", full);
	cr_expect(r.b[2] & 0x02, "TC=1");
	cr_expect(r.b[2] & 0x80, "still a response");
	cr_expect_eq(r.b[0], 0x12, "the id kept");
	cr_expect_eq(r.b[5], 1, "one question");
	cr_expect_eq(r.b[7] + r.b[9] + r.b[11], 0, "no records");
	rrl_free(rl);
}

Test(rrl, tokens_refill_at_the_rate_up_to_one_second)
{
	struct rrl *rl = rrl_of(5, 0, NULL, 64);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(send_one(rl, "192.0.2.1", web_a(), 1000), RRL_SEND);
	}
	cr_expect_eq(send_one(rl, "192.0.2.1", web_a(), 1000), RRL_DROP, "slip 0 drops all");
	cr_expect_eq(send_one(rl, "192.0.2.1", web_a(), 1199), RRL_DROP, "199 ms: < 1 token");
	cr_expect_eq(send_one(rl, "192.0.2.1", web_a(), 1200), RRL_SEND, "200 ms: 1 token");
	cr_expect_eq(send_one(rl, "192.0.2.1", web_a(), 1200), RRL_DROP);
	cr_expect_eq(send_one(rl, "192.0.2.1", web_a(), 900), RRL_DROP, "time going back: nothing");
	/* A long silence refills one second's worth, not more. */
	unsigned sent = 0;
	for (int i = 0; i < 20; i++) {
		sent += send_one(rl, "192.0.2.1", web_a(), 60000) == RRL_SEND;
	}
	cr_expect_eq(sent, 5);
	/* A steady 10/s against 5/s: half go. */
	sent = 0;
	for (uint64_t t = 60100; t < 70100; t += 100) {
		sent += send_one(rl, "192.0.2.1", web_a(), t) == RRL_SEND;
	}
	cr_expect_eq(sent, 50, "5 a second for 10 s");
	rrl_free(rl);
}

Test(rrl, buckets_are_per_source_prefix_and_answer)
{
	struct rrl *rl = rrl_of(2, 0, NULL, 1024);
	cr_expect_eq(send_one(rl, "192.0.2.1", web_a(), 1000), RRL_SEND);
	cr_expect_eq(send_one(rl, "192.0.2.200", web_a(), 1000), RRL_SEND, "same /24");
	cr_expect_eq(send_one(rl, "192.0.2.7", web_a(), 1000), RRL_DROP, "the /24 is spent");
	cr_expect_eq(send_one(rl, "::ffff:192.0.2.9", web_a(), 1000), RRL_DROP, "mapped: IPv4");
	cr_expect_eq(send_one(rl, "192.0.3.1", web_a(), 1000), RRL_SEND, "another /24");
	struct resp upper = response("WEB.Services.LON6.example.net", 1, 0, 2);
	cr_expect_eq(send_one(rl, "192.0.2.1", upper, 1000), RRL_DROP, "qname case folded");
	struct resp aaaa = response("web.services.lon6.example.net", 28, 0, 1);
	cr_expect_eq(send_one(rl, "192.0.2.1", aaaa, 1000), RRL_SEND, "another qtype");
	struct resp other = response("db.services.lon6.example.net", 1, 0, 1);
	cr_expect_eq(send_one(rl, "192.0.2.1", other, 1000), RRL_SEND, "another qname");
	/* IPv6 by /56: 2001:db8:0:100::/56 holds 2001:db8:0:1ff::1. */
	cr_expect_eq(send_one(rl, "2001:db8:0:100::1", web_a(), 1000), RRL_SEND);
	cr_expect_eq(send_one(rl, "2001:db8:0:1ff::1", web_a(), 1000), RRL_SEND);
	cr_expect_eq(send_one(rl, "2001:db8:0:1ff::2", web_a(), 1000), RRL_DROP, "same /56");
	cr_expect_eq(send_one(rl, "2001:db8:0:200::1", web_a(), 1000), RRL_SEND, "another /56");
	rrl_free(rl);
}

Test(rrl, nxdomain_and_errors_share_a_bucket_per_source_whatever_the_name)
{
	struct rrl *rl = rrl_of(2, 0, NULL, 1024);
	char name[64];
	unsigned sent = 0;
	for (int i = 0; i < 50; i++) { /* a random-subdomain flood */
		snprintf(name, sizeof(name), "x%d.services.lon6.example.net", i);
		sent += send_one(rl, "192.0.2.1", response(name, 1, 3, 0), 1000) == RRL_SEND;
	}
	cr_expect_eq(sent, 2, "one NXDOMAIN bucket");
	sent = 0;
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "x%d.elsewhere.org", i);
		sent += send_one(rl, "192.0.2.1", response(name, 1, 5, 0), 1000) == RRL_SEND;
	}
	cr_expect_eq(sent, 2, "one REFUSED (error) bucket, apart from NXDOMAIN");
	sent = 0;
	for (int i = 0; i < 10; i++) {
		sent += send_one(rl, "192.0.2.1",
					response("web.services.lon6.example.net", 16, 0, 0),
					1000) == RRL_SEND;
	}
	cr_expect_eq(sent, 2, "NODATA: per name");
	cr_expect_eq(send_one(rl, "192.0.2.1", response("db.services.lon6.example.net", 16, 0, 0),
				     1000),
			RRL_SEND);
	rrl_free(rl);
}

Test(rrl, exempt_sources_are_never_limited)
{
	struct rrl *rl = rrl_of(1, 2, "10.1.0.0/16", 64);
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(send_one(rl, "10.1.2.3", web_a(), 1000), RRL_SEND);
	}
	cr_expect_eq(send_one(rl, "10.2.2.3", web_a(), 1000), RRL_SEND);
	cr_expect_neq(send_one(rl, "10.2.2.3", web_a(), 1000), RRL_SEND, "outside: limited");
	struct resp r = web_a();
	cr_expect_eq(rrl_apply(rl, NULL, r.b, &r.len, 1000), RRL_SEND, "no source: not limited");
	rrl_free(rl);
}

/* One set of four ways: the fifth key takes the least recently used. */
Test(rrl, a_full_set_evicts_its_least_recently_used_bucket)
{
	struct rrl *rl = rrl_of(1, 0, NULL, 4);
	const char *src[] = {"192.0.1.1", "192.0.2.1", "192.0.3.1", "192.0.4.1", "192.0.5.1"};
	for (int k = 0; k < 4; k++) {
		cr_assert_eq(send_one(rl, src[k], web_a(), 1000 + (uint64_t)k), RRL_SEND);
	}
	for (int k = 0; k < 4; k++) {
		cr_expect_eq(send_one(rl, src[k], web_a(), 1004), RRL_DROP, "%s spent", src[k]);
	}
	/* All four at 1004; touch all but the second at 1005. */
	for (int k = 0; k < 4; k++) {
		if (k != 1) {
			cr_expect_eq(send_one(rl, src[k], web_a(), 1005), RRL_DROP);
		}
	}
	cr_expect_eq(send_one(rl, src[4], web_a(), 1006), RRL_SEND, "a fifth key gets a bucket");
	cr_expect_eq(send_one(rl, src[0], web_a(), 1006), RRL_DROP, "recently used: kept");
	cr_expect_eq(send_one(rl, src[2], web_a(), 1006), RRL_DROP, "kept");
	cr_expect_eq(send_one(rl, src[3], web_a(), 1006), RRL_DROP, "kept");
	cr_expect_eq(send_one(rl, src[1], web_a(), 1006), RRL_SEND,
			"the evicted one starts over, full (erring on the side of answering)");
	rrl_free(rl);
}

Test(rrl, many_keys_in_a_small_table_never_limit_a_fresh_source_wrongly)
{
	struct rrl *rl = rrl_of(1, 0, NULL, 16);
	char src[32];
	unsigned sent = 0;
	for (int i = 0; i < 2000; i++) {
		snprintf(src, sizeof(src), "10.%d.%d.1", i / 256, i % 256);
		sent += send_one(rl, src, web_a(), 1000) == RRL_SEND;
	}
	cr_expect_eq(sent, 2000, "each /24's first response goes, however full the table");
	rrl_free(rl);
}

Test(rrl, bad_settings_are_refused)
{
	struct rrl *rl = NULL;
	cr_expect_eq(rrl_new(&(struct rrl_config){.rate = 0}, &rl), RS_EINVAL);
	cr_expect_eq(rrl_new(&(struct rrl_config){.rate = 5, .slots = 6}, &rl), RS_EINVAL);
	cr_expect_eq(rrl_new(&(struct rrl_config){.rate = 5, .slots = 2}, &rl), RS_EINVAL);
	cr_expect_null(rl);
	cr_assert_eq(rrl_new(&(struct rrl_config){.rate = 5}, &rl), 0, "defaults");
	rrl_free(rl);
}

struct class_case {
	unsigned rcode, ancount;
	enum rrl_class want;
};

ParameterizedTestParameters(rrl, classes_from_the_response)
{
	static struct class_case cases[] = {
			{0, 1, RRL_POSITIVE},
			{0, 0, RRL_NODATA},
			{3, 0, RRL_NXDOMAIN},
			{5, 0, RRL_ERROR},
			{1, 0, RRL_ERROR},
			{2, 0, RRL_ERROR},
			{4, 0, RRL_ERROR},
			{9, 0, RRL_ERROR},
	};
	return cr_make_param_array(struct class_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct class_case *c, rrl, classes_from_the_response)
{
	struct resp r = response("a.b", 1, c->rcode, c->ancount);
	cr_expect_eq(rrl_classify(r.b, r.len), c->want, "rcode %u ancount %u", c->rcode,
			c->ancount);
}

Test(rrl, short_or_odd_responses_are_handled)
{
	uint8_t hdr[12] = {0, 1, 0x80, 0x01}; /* FORMERR, no question */
	size_t len = sizeof(hdr);
	struct rrl *rl = rrl_of(1, 1, NULL, 64);
	struct sockaddr_storage s = sa("192.0.2.1");
	cr_expect_eq(rrl_classify(hdr, 5), RRL_ERROR);
	cr_expect_eq(rrl_apply(rl, (struct sockaddr *)&s, hdr, &len, 1000), RRL_SEND);
	cr_expect_eq(rrl_apply(rl, (struct sockaddr *)&s, hdr, &len, 1000), RRL_SLIP);
	cr_expect_eq(len, 12, "no question: the header alone");
	cr_expect(hdr[2] & 0x02);
	/* A compressed or overlong question name: no name, still a bucket. */
	struct resp r = web_a();
	r.b[12] = 0xc0;
	cr_expect_eq(rrl_apply(rl, (struct sockaddr *)&s, r.b, &r.len, 1000), RRL_SEND,
			"a positive bucket of its own, without the name");
	cr_expect_eq(rrl_apply(rl, (struct sockaddr *)&s, r.b, &r.len, 1000), RRL_SLIP);
	cr_expect_eq(r.len, 12, "no readable question: the header alone");
	cr_expect_eq(r.b[5], 0, "QDCOUNT 0");
	rrl_free(rl);
}

struct worker {
	struct rrl *rl;
	unsigned sent;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 20000; i++) {
		w->sent += send_one(w->rl, "192.0.2.1", web_a(), 1000) == RRL_SEND;
	}
	return NULL;
}

Test(rrl, threads_share_one_table_and_one_rate)
{
	struct rrl *rl = rrl_of(100, 0, NULL, 0);
	pthread_t th[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){rl, 0};
		cr_assert_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	unsigned sent = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		sent += w[i].sent;
	}
	cr_expect_eq(sent, 100, "the rate is the server's, not each thread's");
	rrl_free(rl);
}
