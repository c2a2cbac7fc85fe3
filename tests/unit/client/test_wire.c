#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/wire.h"
#include "proto/frame.h"
#include "proto/roster.pb-c.h"

/* Encode @p rq and unpack the frame as the server would. */
static Roster__V1__Request *roundtrip(const struct wire_request *rq)
{
	uint8_t *frame = NULL;
	size_t len = 0;
	cr_assert_eq(wire_request_encode(rq, &frame, &len), 0);
	cr_assert_geq(len, RS_FRAME_HEADER);
	uint32_t body = (uint32_t)frame[0] << 24 | (uint32_t)frame[1] << 16 |
			(uint32_t)frame[2] << 8 | frame[3];
	cr_assert_eq(body, len - RS_FRAME_HEADER, "the header carries the body length");
	Roster__V1__Request *m = roster__v1__request__unpack(NULL, body, frame + RS_FRAME_HEADER);
	free(frame);
	cr_assert_not_null(m);
	cr_expect_eq(m->id, rq->id);
	return m;
}

Test(wire, register_request_carries_the_whole_instance)
{
	const char *addrs[] = {"10.0.0.1", "fd00::1"};
	struct roster_meta meta[] = {{"version", "1.2"}};
	struct roster_instance in = {.service = "web",
			.protocol = "http",
			.host = "web1.example.net",
			.port = 8080,
			.addresses = addrs,
			.n_addresses = 2,
			.metadata = meta,
			.n_metadata = 1,
			.weight = 7,
			.priority = 3,
			.status = ROSTER_STARTING};
	struct wire_request rq = {.id = 77, .op = WIRE_REGISTER, .inst = &in, .lease = 0xabcdef};
	Roster__V1__Request *m = roundtrip(&rq);
	cr_assert_eq(m->op_case, ROSTER__V1__REQUEST__OP_REGISTER);
	Roster__V1__Instance *i = m->register_->instance;
	cr_expect_eq(m->register_->lease, 0xabcdef);
	cr_expect_str_eq(i->service, "web");
	cr_expect_str_eq(i->host, "web1.example.net");
	cr_expect_eq(i->port, 8080);
	cr_expect_eq(i->n_addresses, 2);
	cr_expect_str_eq(i->addresses[1], "fd00::1");
	cr_expect_eq(i->n_metadata, 1);
	cr_expect_str_eq(i->metadata[0]->key, "version");
	cr_expect_str_eq(i->metadata[0]->value, "1.2");
	cr_expect_eq(i->weight, 7);
	cr_expect_eq(i->priority, 3);
	cr_expect_eq(i->status, ROSTER__V1__STATUS__STARTING);
	roster__v1__request__free_unpacked(m, NULL);
}

Test(wire, every_op_encodes_its_case)
{
	struct roster_instance id = {.service = "a", .protocol = "b", .host = "h.", .port = 1};
	struct {
		struct wire_request rq;
		int op_case;
	} cases[] = {
			{{.op = WIRE_OPEN_LEASE, .ttl_seconds = 30},
					ROSTER__V1__REQUEST__OP_OPEN_LEASE},
			{{.op = WIRE_HEARTBEAT, .lease = 5}, ROSTER__V1__REQUEST__OP_HEARTBEAT},
			{{.op = WIRE_DEREGISTER_INSTANCE, .inst = &id},
					ROSTER__V1__REQUEST__OP_DEREGISTER},
			{{.op = WIRE_DEREGISTER_LEASE, .lease = 5},
					ROSTER__V1__REQUEST__OP_DEREGISTER},
			{{.op = WIRE_SET_STATUS, .inst = &id, .status = ROSTER_DOWN},
					ROSTER__V1__REQUEST__OP_SET_STATUS},
			{{.op = WIRE_QUERY, .service = "a"}, ROSTER__V1__REQUEST__OP_QUERY},
			{{.op = WIRE_LIST}, ROSTER__V1__REQUEST__OP_LIST},
			{{.op = WIRE_WATCH, .since_revision = 9}, ROSTER__V1__REQUEST__OP_WATCH},
			{{.op = WIRE_STATS}, ROSTER__V1__REQUEST__OP_STATS},
			{{.op = WIRE_CANCEL_WATCH, .watch_id = 3},
					ROSTER__V1__REQUEST__OP_CANCEL_WATCH},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cases[i].rq.id = i + 1;
		Roster__V1__Request *m = roundtrip(&cases[i].rq);
		cr_expect_eq((int)m->op_case, cases[i].op_case, "op %d", cases[i].rq.op);
		switch (m->op_case) {
		case ROSTER__V1__REQUEST__OP_OPEN_LEASE:
			cr_expect_eq(m->open_lease->ttl_seconds, 30);
			break;
		case ROSTER__V1__REQUEST__OP_DEREGISTER:
			if (cases[i].rq.op == WIRE_DEREGISTER_LEASE) {
				cr_expect_eq(m->deregister->target_case,
						ROSTER__V1__DEREGISTER_REQUEST__TARGET_LEASE);
				cr_expect_eq(m->deregister->lease, 5);
			} else {
				cr_expect_str_eq(m->deregister->instance->host, "h.");
			}
			break;
		case ROSTER__V1__REQUEST__OP_SET_STATUS:
			cr_expect_eq(m->set_status->status, ROSTER__V1__STATUS__DOWN);
			break;
		case ROSTER__V1__REQUEST__OP_QUERY:
			cr_expect_str_eq(m->query->protocol, "");
			break;
		case ROSTER__V1__REQUEST__OP_WATCH:
			cr_expect_eq(m->watch->since_revision, 9);
			cr_expect_str_eq(m->watch->service, "");
			break;
		default:
			break;
		}
		roster__v1__request__free_unpacked(m, NULL);
	}
	uint8_t *f = NULL;
	size_t l = 0;
	struct wire_request bad = {.op = (enum wire_op)99};
	cr_expect_eq(wire_request_encode(&bad, &f, &l), ROSTER_EINVAL);
}

/* Pack a Response as the registry would and decode it as the client does;
 * the decoder's return code. */
static int decode_rc(const Roster__V1__Response *r, struct wire_response *out)
{
	size_t len = roster__v1__response__get_packed_size(r);
	uint8_t *buf = malloc(len + 1);
	roster__v1__response__pack(r, buf);
	int rc = wire_response_decode(buf, len, out);
	free(buf);
	return rc;
}

/* A QUERY answer holding @p i, decoded; the decoder's return code. */
static int decode_query_of(Roster__V1__Instance *i, struct wire_response *out)
{
	Roster__V1__Instance *is[] = {i};
	Roster__V1__QueryResponse q = ROSTER__V1__QUERY_RESPONSE__INIT;
	q.n_instances = 1;
	q.instances = is;
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.result_case = ROSTER__V1__RESPONSE__RESULT_QUERY;
	r.query = &q;
	return decode_rc(&r, out);
}

/* The same, for a response that must decode. */
static void decode(const Roster__V1__Response *r, struct wire_response *out)
{
	cr_assert_eq(decode_rc(r, out), 0);
}

Test(wire, query_response_becomes_a_result)
{
	Roster__V1__Instance i1 = ROSTER__V1__INSTANCE__INIT;
	Roster__V1__Instance__MetadataEntry me = ROSTER__V1__INSTANCE__METADATA_ENTRY__INIT;
	Roster__V1__Instance__MetadataEntry *mes[] = {&me};
	char *addrs[] = {"10.0.0.1"};
	me.key = "k";
	me.value = "v";
	i1.service = "web";
	i1.protocol = "http";
	i1.host = "web1.example.net.";
	i1.port = 80;
	i1.n_addresses = 1;
	i1.addresses = addrs;
	i1.n_metadata = 1;
	i1.metadata = mes;
	i1.status = ROSTER__V1__STATUS__UP;
	i1.expiry = ROSTER__V1__EXPIRY_KIND__TIMED;
	i1.status_since_ms = 1795000000000ULL;
	i1.lease = 12;
	i1.stale = 1;
	Roster__V1__Instance *is[] = {&i1};
	Roster__V1__QueryResponse q = ROSTER__V1__QUERY_RESPONSE__INIT;
	q.n_instances = 1;
	q.instances = is;
	q.revision = 44;
	q.preserving = 1;
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.id = 5;
	r.result_case = ROSTER__V1__RESPONSE__RESULT_QUERY;
	r.query = &q;
	struct wire_response out;
	decode(&r, &out);
	cr_expect_eq(out.id, 5);
	cr_expect_eq(out.error, 0);
	cr_assert_eq(out.result, WIRE_RESULT_QUERY);
	struct roster_result *res = out.query;
	cr_expect_eq(res->revision, 44);
	cr_expect(res->preserving);
	cr_expect_not(res->stale); /* the registry's answer, not our stale copy */
	cr_assert_eq(res->n_instances, 1);
	struct roster_instance *in = &res->instances[0];
	cr_expect_str_eq(in->host, "web1.example.net.");
	cr_expect_str_eq(in->addresses[0], "10.0.0.1");
	cr_expect_str_eq(in->metadata[0].value, "v");
	cr_expect_eq(in->status, ROSTER_UP);
	cr_expect_eq(in->expiry, ROSTER_TIMED);
	cr_expect_eq(in->status_since_ms, 1795000000000ULL);
	cr_expect_eq(in->lease, 12);
	cr_expect(in->stale);
	wire_response_deinit(&out);
}

Test(wire, error_response_keeps_code_and_message)
{
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.id = 9;
	r.error = ROSTER__V1__ERROR_CODE__INVALID_NAME;
	r.message = "service 'a_b': invalid character";
	struct wire_response out;
	decode(&r, &out);
	cr_expect_eq(out.error, ROSTER_ENAME);
	cr_expect_str_eq(out.message, "service 'a_b': invalid character");
	cr_expect_eq(out.result, WIRE_RESULT_NONE);
	wire_response_deinit(&out);
}

Test(wire, stats_and_watch_and_list_decode)
{
	Roster__V1__StatsResponse s = ROSTER__V1__STATS_RESPONSE__INIT;
	Roster__V1__StatsResponse__ClientReportsEntry e =
			ROSTER__V1__STATS_RESPONSE__CLIENT_REPORTS_ENTRY__INIT;
	Roster__V1__StatsResponse__ClientReportsEntry *es[] = {&e};
	e.key = "E42";
	e.value = 3;
	s.site = "lon6";
	s.zone = "services.lon6.example.net.";
	s.leases = 1000;
	s.n_client_reports = 1;
	s.client_reports = es;
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.result_case = ROSTER__V1__RESPONSE__RESULT_STATS;
	r.stats = &s;
	struct wire_response out;
	decode(&r, &out);
	cr_expect_str_eq(out.stats.zone, "services.lon6.example.net.");
	cr_expect_eq(out.stats.leases, 1000);
	cr_expect_eq(out.stats.n_reports, 1);
	cr_expect_str_eq(out.stats.reports[0].code, "E42");
	wire_response_deinit(&out);

	Roster__V1__WatchEvent we = ROSTER__V1__WATCH_EVENT__INIT;
	Roster__V1__Instance i = ROSTER__V1__INSTANCE__INIT;
	i.service = "web";
	i.protocol = "tcp";
	i.host = "h.";
	i.port = 1;
	we.kind = ROSTER__V1__WATCH_EVENT__KIND__REMOVE;
	we.revision = 8;
	we.instance = &i;
	we.reason = "expired";
	Roster__V1__Response r2 = ROSTER__V1__RESPONSE__INIT;
	r2.id = 3;
	r2.result_case = ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT;
	r2.watch_event = &we;
	decode(&r2, &out);
	cr_expect_eq(out.watch_kind, ROSTER_WATCH_REMOVE);
	cr_expect_eq(out.revision, 8);
	cr_expect_str_eq(out.watch_inst.host, "h.");
	cr_expect_str_eq(out.reason, "expired");
	wire_response_deinit(&out);

	Roster__V1__ServiceSummary ss = ROSTER__V1__SERVICE_SUMMARY__INIT;
	Roster__V1__ServiceSummary *sss[] = {&ss};
	ss.service = "web";
	ss.protocol = "http";
	ss.up = 2;
	ss.down = 1;
	Roster__V1__ListResponse l = ROSTER__V1__LIST_RESPONSE__INIT;
	l.n_services = 1;
	l.services = sss;
	l.revision = 4;
	Roster__V1__Response r3 = ROSTER__V1__RESPONSE__INIT;
	r3.result_case = ROSTER__V1__RESPONSE__RESULT_LIST;
	r3.list = &l;
	decode(&r3, &out);
	cr_assert_eq(out.list->n_services, 1);
	cr_expect_str_eq(out.list->services[0].protocol, "http");
	cr_expect_eq(out.list->services[0].up, 2);
	cr_expect_eq(out.list->revision, 4);
	wire_response_deinit(&out);
}

struct bad_bytes {
	uint8_t b[16];
	size_t len;
};

ParameterizedTestParameters(wire, malformed_responses_are_eproto)
{
	static struct bad_bytes cases[] = {
			{{0x08}, 1}, /* varint cut short */
			{{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
					12},
			{{0x1a, 0x05, 'a'}, 3},  /* string past the end */
			{{0x0f}, 1},             /* wire type 7 */
			{{0x82, 0x01, 0x7f}, 3}, /* submessage past the end */
	};
	return cr_make_param_array(struct bad_bytes, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_bytes *c, wire, malformed_responses_are_eproto)
{
	struct wire_response out;
	cr_expect_eq(wire_response_decode(c->b, c->len, &out), ROSTER_EPROTO);
}

struct code_case {
	int code;
	int expect;
};

ParameterizedTestParameters(wire, error_codes_map_to_roster_codes)
{
	static struct code_case cases[] = {
			{ROSTER__V1__ERROR_CODE__OK, 0},
			{ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT, ROSTER_EINVAL},
			{ROSTER__V1__ERROR_CODE__INVALID_NAME, ROSTER_ENAME},
			{ROSTER__V1__ERROR_CODE__UNKNOWN_LEASE, ROSTER_ELEASE},
			{ROSTER__V1__ERROR_CODE__NOT_FOUND, ROSTER_ENOENT},
			{ROSTER__V1__ERROR_CODE__LIMIT_EXCEEDED, ROSTER_ELIMIT},
			{ROSTER__V1__ERROR_CODE__FRAME_TOO_LARGE, ROSTER_ELIMIT},
			{ROSTER__V1__ERROR_CODE__MALFORMED, ROSTER_EPROTO},
			{ROSTER__V1__ERROR_CODE__STORAGE_FULL, ROSTER_ESTORE},
			{ROSTER__V1__ERROR_CODE__STORAGE_ERROR, ROSTER_ESTORE},
			{ROSTER__V1__ERROR_CODE__UNAVAILABLE, ROSTER_EAGAIN},
			{ROSTER__V1__ERROR_CODE__INTERNAL, ROSTER_ESERVER},
			{ROSTER__V1__ERROR_CODE__UNSUPPORTED, ROSTER_ENOTSUP},
			{999, ROSTER_ESERVER},
	};
	return cr_make_param_array(struct code_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct code_case *c, wire, error_codes_map_to_roster_codes)
{
	cr_expect_eq(wire_error_from_code(c->code), c->expect, "code %d", c->code);
}

Test(wire, an_identity_no_registry_accepts_is_a_protocol_error)
{
	static const struct {
		const char *service, *protocol, *host;
		uint32_t port;
	} bad[] = {
			{"web", "tcp", "h\x1b[2J.example.net", 80},        /* a terminal escape */
			{"web", "tcp", "h.example.net\nregistered x", 80}, /* a forged line */
			{"w b", "tcp", "h.example.net", 80},
			{"web", "", "h.example.net", 80},
			{"web", "tcp", "h.example.net", 0},
			{"web", "tcp", "h.example.net", 70000},
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		Roster__V1__Instance i = ROSTER__V1__INSTANCE__INIT;
		i.service = (char *)bad[k].service;
		i.protocol = (char *)bad[k].protocol;
		i.host = (char *)bad[k].host;
		i.port = bad[k].port;
		struct wire_response out;
		cr_expect_eq(decode_query_of(&i, &out), ROSTER_EPROTO, "case %zu", k);
		cr_expect_null(out.query, "nothing left owned");
	}
	Roster__V1__ServiceSummary ss = ROSTER__V1__SERVICE_SUMMARY__INIT;
	Roster__V1__ServiceSummary *sss[] = {&ss};
	ss.service = "web\r";
	ss.protocol = "tcp";
	Roster__V1__ListResponse l = ROSTER__V1__LIST_RESPONSE__INIT;
	l.n_services = 1;
	l.services = sss;
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.result_case = ROSTER__V1__RESPONSE__RESULT_LIST;
	r.list = &l;
	struct wire_response out;
	cr_expect_eq(decode_rc(&r, &out), ROSTER_EPROTO);
}

Test(wire, a_negative_status_is_unspecified)
{
	Roster__V1__Instance i = ROSTER__V1__INSTANCE__INIT;
	i.service = "web";
	i.protocol = "tcp";
	i.host = "h.example.net";
	i.port = 80;
	i.status = (Roster__V1__Status)-1;
	i.expiry = (Roster__V1__ExpiryKind)-3;
	struct wire_response out;
	cr_assert_eq(decode_query_of(&i, &out), 0);
	cr_expect_eq(out.query->instances[0].status, ROSTER_STATUS_UNSPECIFIED);
	cr_expect_eq(out.query->instances[0].expiry, ROSTER_EXPIRY_UNSPECIFIED);
	wire_response_deinit(&out);
}

Test(wire, free_text_reaches_people_without_control_characters_or_broken_utf8)
{
	/* 62 octets of 'a', then "é" (2 octets): it cannot fit a 64-octet
	 * site with its NUL, and is not cut in half. */
	char site[80];
	memset(site, 'a', 62);
	strcpy(site + 62, "\xc3\xa9z");
	Roster__V1__StatsResponse s = ROSTER__V1__STATS_RESPONSE__INIT;
	s.site = site;
	s.domain = "ex\x1b]0;owned\x07"
		   "ample.net"; /* sets a terminal's title */
	s.zone = "z\xc2\x9b"
		 "2Jz\xff\xc0\xafz\xe2\x82\xacz"; /* C1 CSI, bad bytes, an overlong '/', a euro */
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.result_case = ROSTER__V1__RESPONSE__RESULT_STATS;
	r.stats = &s;
	r.message = "line one\nline two";
	struct wire_response out;
	decode(&r, &out);
	cr_assert_eq(sizeof(out.stats.site), 64);
	cr_expect_eq(strlen(out.stats.site), 62);
	cr_expect_str_eq(out.stats.domain, "ex?]0;owned?ample.net");
	cr_expect_str_eq(out.stats.zone, "z?2Jz???z\xe2\x82\xacz");
	cr_expect_str_eq(out.message, "line one?line two");
	wire_response_deinit(&out);
}

Test(wire, an_instance_with_many_metadata_entries_keeps_them_all)
{
	Roster__V1__Instance__MetadataEntry me[40], *mes[40];
	char keys[40][8], values[40][8];
	for (int k = 0; k < 40; k++) {
		roster__v1__instance__metadata_entry__init(&me[k]);
		snprintf(keys[k], sizeof(keys[k]), "k%02d", k);
		snprintf(values[k], sizeof(values[k]), "v%d", k);
		me[k].key = keys[k];
		me[k].value = values[k];
		mes[k] = &me[k];
	}
	Roster__V1__Instance i1 = ROSTER__V1__INSTANCE__INIT;
	i1.service = "web";
	i1.protocol = "http";
	i1.host = "web1.example.net.";
	i1.port = 80;
	i1.n_metadata = 40;
	i1.metadata = mes;
	Roster__V1__Instance *is[] = {&i1};
	Roster__V1__QueryResponse q = ROSTER__V1__QUERY_RESPONSE__INIT;
	q.n_instances = 1;
	q.instances = is;
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.result_case = ROSTER__V1__RESPONSE__RESULT_QUERY;
	r.query = &q;
	struct wire_response out;
	decode(&r, &out);
	cr_assert_eq(out.query->instances[0].n_metadata, 40);
	cr_expect_str_eq(out.query->instances[0].metadata[0].key, "k00");
	cr_expect_str_eq(out.query->instances[0].metadata[39].value, "v39");
	wire_response_deinit(&out);
}

/* More client error reports than a Stats answer holds: the largest counts
 * are kept, whatever their order on the wire. */
Test(wire, stats_keep_the_largest_report_counts)
{
	enum { N = ROSTER_STATS_MAX_REPORTS + 36 };
	Roster__V1__StatsResponse__ClientReportsEntry e[N], *es[N];
	char keys[N][8];
	for (int k = 0; k < N; k++) {
		roster__v1__stats_response__client_reports_entry__init(&e[k]);
		snprintf(keys[k], sizeof(keys[k]), "E%d", k);
		e[k].key = keys[k];
		/* Counts 1..N, shuffled by a stride coprime with N. */
		e[k].value = (uint64_t)((k * 37) % N) + 1;
		es[k] = &e[k];
	}
	Roster__V1__StatsResponse s = ROSTER__V1__STATS_RESPONSE__INIT;
	s.n_client_reports = N;
	s.client_reports = es;
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.result_case = ROSTER__V1__RESPONSE__RESULT_STATS;
	r.stats = &s;
	struct wire_response out;
	decode(&r, &out);
	cr_assert_eq(out.stats.n_reports, ROSTER_STATS_MAX_REPORTS);
	uint64_t min = UINT64_MAX;
	for (size_t k = 0; k < out.stats.n_reports; k++) {
		min = out.stats.reports[k].count < min ? out.stats.reports[k].count : min;
	}
	cr_expect_eq(min, N - ROSTER_STATS_MAX_REPORTS + 1, "only the largest counts stay");
	wire_response_deinit(&out);
}

Test(wire, a_watch_event_of_an_unknown_kind_is_eproto_and_cancel_is_decoded)
{
	Roster__V1__WatchEvent we = ROSTER__V1__WATCH_EVENT__INIT;
	we.kind = (Roster__V1__WatchEvent__Kind)99;
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.id = 3;
	r.result_case = ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT;
	r.watch_event = &we;
	struct wire_response out;
	cr_expect_eq(decode_rc(&r, &out), ROSTER_EPROTO);
	wire_response_deinit(&out);
	Roster__V1__CancelWatchResponse cw = ROSTER__V1__CANCEL_WATCH_RESPONSE__INIT;
	Roster__V1__Response r2 = ROSTER__V1__RESPONSE__INIT;
	r2.id = 4;
	r2.result_case = ROSTER__V1__RESPONSE__RESULT_CANCEL_WATCH;
	r2.cancel_watch = &cw;
	decode(&r2, &out);
	cr_expect_eq(out.result, WIRE_RESULT_CANCEL_WATCH);
	cr_expect_eq(out.id, 4);
	wire_response_deinit(&out);
}

/* Every octet of a malformed UTF-8 sequence becomes a "?"; valid ones stay. */
Test(wire, free_text_replaces_every_malformed_utf8_sequence)
{
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.error = ROSTER__V1__ERROR_CODE__INTERNAL;
	r.message = "a\xe0\x80\x80"     /* overlong 3 octets */
		    "b\xed\xa0\x80"     /* a surrogate */
		    "c\xf4\x90\x80\x80" /* past U+10FFFF */
		    "d\xf0\x9f\x98\x80" /* U+1F600, valid */
		    "e\x7f"             /* DEL */
		    "f\xe2\x82";        /* cut short at the end */
	struct wire_response out;
	decode(&r, &out);
	cr_expect_str_eq(out.message,
			"a???b???c????d\xf0\x9f\x98\x80"
			"e?f??",
			"%s", out.message);
	wire_response_deinit(&out);
}
