/*
 * tests/fuzz/fuzz_client.c - libFuzzer target: what the client side makes
 * of the bytes a registry (untrusted, or buggy) sends back. A frame body
 * goes through wire_response_decode() (client/wire.c, client/inst.c); a
 * QUERY, LIST, WATCH_EVENT or STATS result then goes where the roster CLI
 * sends it: the output functions of client/cli/output.c, human and --json,
 * onto an open_memstream(); jsonify_result() and jsonify_instance()
 * (client/jsonify.c), and the stale cache's way back, jsonify_parse_instance();
 * and, for a QUERY, the `ring` command's ringowner_find() and output_ring().
 * The error is not looked at before the output (the CLI prints only
 * answers without one): a superset of what it reaches.
 *
 * Input: one control octet, then the Response body (what follows a frame's
 * 4-octet length). Control bit 0: treat the QUERY result as a stale copy
 * (the "stale:" lines, stale_age_seconds); bit 1: the query asked for
 * protocol "tcp" (else all protocols); bits 2-7: the ring key, "key-<n>".
 *
 * The oracle is a second, independent roster__v1__response__unpack() of
 * the same body. Invariants:
 *   - decode returns 0, ROSTER_EPROTO or ROSTER_ENOMEM; EPROTO exactly when
 *     the body is not a Response, is a WatchEvent of an unknown kind, or
 *     carries an instance identity or a list entry a registry would refuse
 *     (service and protocol labels, host name, port 1..65535: rosterd never
 *     sends one); after a failure nothing is left owned (query, list,
 *     watch_inst all NULL);
 *   - on 0: message and reason are NUL-terminated within their arrays and
 *     clean text (valid UTF-8 without control characters, C1 included,
 *     whatever the server sent), the server's own text, cut at a character,
 *     when it was clean; the result kind, id and error code are the
 *     message's; too_large only with ROSTER_ELIMIT;
 *   - QUERY and LIST: the counts are the message's and every string (service,
 *     protocol, host, addresses, metadata keys and values) is non-NULL and
 *     equal to the message's (up to a NUL inside it); arrays are NULL exactly
 *     when empty; statuses and expiries outside the enums UNSPECIFIED;
 *   - STATS: site, domain, zone and report codes are clean text as message
 *     is; the reports kept are the ROSTER_STATS_MAX_REPORTS largest
 *     (their counts sum to the sum of the largest counts sent);
 *   - every --json output is exactly one line that parses as a JSON object;
 *     jsonify_instance() writes an instance exactly when its service,
 *     protocol and host are valid UTF-8 (jansson refuses other strings), and
 *     then every address that is; jsonify_result() and the --json outputs
 *     drop no other instance, output_list() no list entry whose names are;
 *   - jsonify_parse_instance() reads what jsonify_instance() wrote back to
 *     the same instance (valid UTF-8; port 1..65535, else ROSTER_EPROTO;
 *     metadata with distinct keys);
 *   - ringowner_find() answers ROSTER_ENOENT exactly when no instance is
 *     UP, else an UP instance, with RS_RING_VNODES points per UP instance.
 *
 * FUZZ_VERBOSE=1 prints every output (human and --json) on stdout, as a
 * terminal would get it.
 *
 * Not checked: addresses and metadata, which the decoder passes as sent
 * (the human output does not print them; --json escapes them).
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli/output.h"
#include "client/cli/ringowner.h"
#include "client/inst.h"
#include "client/jsonify.h"
#include "client/wire.h"
#include "common/name.h"
#include "common/ring.h"
#include "proto/roster.pb-c.h"
#include "tests/fuzz/fuzz.h"

#define SERVER "127.0.0.1:7600"
#define NOW_MS 1795000000000ull

/* Is @p s a string jansson takes (valid UTF-8)? */
static bool utf8_ok(const char *s)
{
	json_t *j = json_string(s);
	json_decref(j);
	return j != NULL;
}

/* Does jsonify_instance() write the instance (service, protocol and host
 * valid UTF-8)? */
static bool ident_utf8_ok(const struct roster_instance *in)
{
	return utf8_ok(in->service) && utf8_ok(in->protocol) && utf8_ok(in->host);
}

static size_t addresses_utf8_ok(const struct roster_instance *in)
{
	size_t n = 0;
	for (size_t i = 0; i < in->n_addresses; i++) {
		n += utf8_ok(in->addresses[i]) ? 1 : 0;
	}
	return n;
}

/* Does it write all of it? */
static bool instance_utf8_ok(const struct roster_instance *in)
{
	if (!ident_utf8_ok(in)) {
		return false;
	}
	for (size_t i = 0; i < in->n_addresses; i++) {
		if (!utf8_ok(in->addresses[i])) {
			return false;
		}
	}
	for (size_t i = 0; i < in->n_metadata; i++) {
		if (!utf8_ok(in->metadata[i].key) || !utf8_ok(in->metadata[i].value)) {
			return false;
		}
	}
	return true;
}

/* Text a terminal shows as it is: valid UTF-8 without C0, DEL or C1
 * control characters. */
static bool clean_text(const char *s)
{
	if (!utf8_ok(s)) {
		return false;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7F || (p[0] == 0xC2 && p[1] >= 0x80 && p[1] < 0xA0)) {
			return false;
		}
	}
	return true;
}

/* @p dst is @p src (a server's free text) copied into a char[size]:
 * NUL-terminated within the array, clean text whatever was sent, and, when
 * what was sent was clean, its longest prefix that fits without cutting a
 * character (up to 3 octets short of the array). */
static void check_copy(const char *dst, size_t size, const char *src)
{
	CHECK(memchr(dst, '\0', size) != NULL);
	CHECK(clean_text(dst));
	if (src == NULL || !clean_text(src)) {
		return;
	}
	size_t n = strlen(src);
	n = n < size - 1 ? n : size - 1;
	CHECK(strlen(dst) <= n && strlen(dst) + 3 >= n);
	CHECK(memcmp(dst, src, strlen(dst)) == 0);
}

/* Would a registry refuse this identity (rosterd never sends one)? The
 * decoder answers such a response with ROSTER_EPROTO. */
static bool bad_identity(const Roster__V1__Instance *pb)
{
	return pb->port < 1 || pb->port > 65535 || inst_label_check(pb->service) != 0 ||
	       inst_label_check(pb->protocol) != 0 || pb->host == NULL ||
	       rs_name_check(pb->host, 0) != 0;
}

/* Does the response carry a name the decoder must refuse? */
static bool refused_names(const Roster__V1__Response *m)
{
	switch (m->result_case) {
	case ROSTER__V1__RESPONSE__RESULT_QUERY:
		for (size_t i = 0; i < m->query->n_instances; i++) {
			if (bad_identity(m->query->instances[i])) {
				return true;
			}
		}
		return false;
	case ROSTER__V1__RESPONSE__RESULT_LIST:
		for (size_t i = 0; i < m->list->n_services; i++) {
			if (inst_label_check(m->list->services[i]->service) != 0 ||
					inst_label_check(m->list->services[i]->protocol) != 0) {
				return true;
			}
		}
		return false;
	case ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT:
		return m->watch_event->instance != NULL && bad_identity(m->watch_event->instance);
	default:
		return false;
	}
}

/* A string of a packed instance or a list: present, and the server's. */
static void check_str(const char *got, const char *sent)
{
	CHECK(got != NULL);
	CHECK(strcmp(got, sent != NULL ? sent : "") == 0);
}

/*
 * A decoded instance against the message's: the same strings (its identity
 * passed bad_identity()), and a status or expiry outside the enum's
 * (proto3 enums are open int32s, negative ones too) UNSPECIFIED.
 */
static void instance_check(const struct roster_instance *in, const Roster__V1__Instance *pb)
{
	check_str(in->service, pb->service);
	check_str(in->protocol, pb->protocol);
	check_str(in->host, pb->host);
	CHECK(in->port == pb->port);
	CHECK(in->priority == (uint16_t)pb->priority);
	CHECK(in->weight == (uint16_t)pb->weight);
	CHECK(in->n_addresses == pb->n_addresses);
	CHECK((in->addresses == NULL) == (in->n_addresses == 0));
	for (size_t i = 0; i < in->n_addresses; i++) {
		check_str(in->addresses[i], pb->addresses[i]);
	}
	CHECK(in->n_metadata == pb->n_metadata);
	CHECK((in->metadata == NULL) == (in->n_metadata == 0));
	for (size_t i = 0; i < in->n_metadata; i++) {
		check_str(in->metadata[i].key, pb->metadata[i]->key);
		check_str(in->metadata[i].value, pb->metadata[i]->value);
	}
	int st = (int)pb->status, ex = (int)pb->expiry;
	CHECK((int)in->status == (st >= 0 && st <= ROSTER_DOWN ? st : 0));
	CHECK((int)in->expiry == (ex >= 0 && ex <= ROSTER_STATIC ? ex : 0));
	CHECK(in->registered_at_ms == pb->registered_at_ms);
	CHECK(in->status_since_ms == pb->status_since_ms);
	CHECK(in->lease == pb->lease);
	CHECK(in->stale == (pb->stale != 0));
	CHECK(in->priv != NULL);
}

static size_t distinct_keys(const struct roster_instance *in)
{
	size_t n = 0;
	for (size_t i = 0; i < in->n_metadata; i++) {
		size_t j = 0;
		while (j < i && strcmp(in->metadata[j].key, in->metadata[i].key) != 0) {
			j++;
		}
		n += j == i ? 1 : 0;
	}
	return n;
}

/* jsonify_instance(), and back as the stale cache reads it. */
static void instance_json(const struct roster_instance *in)
{
	json_t *j = jsonify_instance(in);
	CHECK((j != NULL) == ident_utf8_ok(in));
	if (j == NULL) {
		return;
	}
	/* An address, a metadata key or value that jansson refuses is left out
	 * silently (and so from the stale cache): no round trip then. */
	CHECK(json_array_size(json_object_get(j, "addresses")) == addresses_utf8_ok(in));
	if (!instance_utf8_ok(in)) {
		json_decref(j);
		return;
	}
	struct roster_instance back;
	int rc = jsonify_parse_instance(j, &back);
	json_decref(j);
	if (in->port == 0) {
		CHECK(rc == ROSTER_EPROTO);
		return;
	}
	CHECK(rc == 0);
	CHECK(strcmp(back.service, in->service) == 0);
	CHECK(strcmp(back.protocol, in->protocol) == 0);
	CHECK(strcmp(back.host, in->host) == 0);
	CHECK(back.port == in->port);
	CHECK(back.n_addresses == in->n_addresses);
	for (size_t i = 0; i < in->n_addresses; i++) {
		CHECK(strcmp(back.addresses[i], in->addresses[i]) == 0);
	}
	CHECK(back.n_metadata == distinct_keys(in));
	CHECK(back.priority == in->priority && back.weight == in->weight);
	CHECK(strcmp(roster_status_name(back.status), roster_status_name(in->status)) == 0);
	CHECK(strcmp(jsonify_expiry_name(back.expiry), jsonify_expiry_name(in->expiry)) == 0);
	CHECK(back.registered_at_ms == in->registered_at_ms);
	CHECK(back.status_since_ms == in->status_since_ms);
	CHECK(back.lease == in->lease && back.stale == in->stale);
	inst_release(&back);
}

/* Where one output call writes. */
struct sink {
	FILE *f;
	char *buf;
	size_t len;
};

static FILE *sink_open(struct sink *s)
{
	memset(s, 0, sizeof(*s));
	s->f = open_memstream(&s->buf, &s->len);
	CHECK(s->f != NULL);
	return s->f;
}

static bool verbose;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	verbose = getenv("FUZZ_VERBOSE") != NULL;
	return 0;
}

/* A human output. FUZZ_VERBOSE=1 shows every output on stdout, as sent. */
static void sink_drop(struct sink *s)
{
	CHECK(fclose(s->f) == 0);
	CHECK(s->len > 0);
	if (verbose) {
		fwrite(s->buf, 1, s->len, stdout);
	}
	free(s->buf);
}

/* A --json output: one line, one JSON object. @return it (caller's
 * reference). */
static json_t *sink_json(struct sink *s)
{
	CHECK(fclose(s->f) == 0);
	CHECK(s->len > 0 && s->buf[s->len - 1] == '\n');
	CHECK(memchr(s->buf, '\n', s->len) == s->buf + s->len - 1);
	if (verbose) {
		fwrite(s->buf, 1, s->len, stdout);
	}
	json_error_t err;
	json_t *doc = json_loadb(s->buf, s->len, 0, &err);
	CHECK(json_is_object(doc));
	free(s->buf);
	return doc;
}

static void query_check(
		const struct wire_response *rs, const Roster__V1__QueryResponse *pb, uint8_t ctl)
{
	struct roster_result *r = rs->query;
	CHECK(r != NULL);
	CHECK(r->n_instances == pb->n_instances);
	CHECK(r->n_instances == 0 || r->instances != NULL);
	CHECK(r->revision == pb->revision && rs->revision == pb->revision);
	CHECK(r->preserving == (pb->preserving != 0));
	size_t good = 0, up = 0;
	for (size_t i = 0; i < r->n_instances; i++) {
		instance_check(&r->instances[i], pb->instances[i]);
		instance_json(&r->instances[i]);
		good += ident_utf8_ok(&r->instances[i]) ? 1 : 0;
		up += r->instances[i].status == ROSTER_UP ? 1 : 0;
	}
	/* As roster_query() and the stale cache leave it. */
	snprintf(r->server, sizeof(r->server), "%s", SERVER);
	r->stale = (ctl & 1) != 0;
	const char *protocol = (ctl & 2) != 0 ? "tcp" : NULL;

	json_t *doc = jsonify_result(r);
	CHECK(doc != NULL);
	CHECK(json_array_size(json_object_get(doc, "instances")) == good);
	json_decref(doc);

	struct sink s;
	output_query(sink_open(&s), false, "web", protocol, r, NOW_MS, "registry down");
	sink_drop(&s);
	output_query(sink_open(&s), true, "web", protocol, r, NOW_MS, "registry down");
	doc = sink_json(&s);
	CHECK(json_array_size(json_object_get(doc, "instances")) == good);
	json_decref(doc);

	char key[16];
	snprintf(key, sizeof(key), "key-%u", ctl >> 2);
	struct ringowner o;
	int rc = ringowner_find(r, key, &o);
	if (up == 0) {
		CHECK(rc == ROSTER_ENOENT);
		return;
	}
	CHECK(rc == 0);
	CHECK(o.instance < r->n_instances);
	CHECK(r->instances[o.instance].status == ROSTER_UP);
	CHECK(o.points == up * RS_RING_VNODES);
	CHECK(o.vnode < RS_RING_VNODES);
	CHECK(memchr(o.host, '\0', sizeof(o.host)) != NULL);
	output_ring(sink_open(&s), false, "web", "tcp", key, r, &o);
	sink_drop(&s);
	output_ring(sink_open(&s), true, "web", "tcp", key, r, &o);
	json_decref(sink_json(&s));
}

static void list_check(const struct wire_response *rs, const Roster__V1__ListResponse *pb)
{
	struct roster_list *l = rs->list;
	CHECK(l != NULL);
	CHECK(l->n_services == pb->n_services);
	CHECK(l->revision == pb->revision && rs->revision == pb->revision);
	size_t good = 0;
	for (size_t i = 0; i < l->n_services; i++) {
		const struct roster_service *d = &l->services[i];
		const Roster__V1__ServiceSummary *s = pb->services[i];
		check_str(d->service, s->service);
		check_str(d->protocol, s->protocol);
		CHECK(d->up == s->up && d->down == s->down);
		CHECK(d->starting == s->starting && d->stale == s->stale);
		good += utf8_ok(d->service) && utf8_ok(d->protocol) ? 1 : 0;
	}
	snprintf(l->server, sizeof(l->server), "%s", SERVER);
	struct sink s;
	output_list(sink_open(&s), false, l);
	sink_drop(&s);
	output_list(sink_open(&s), true, l);
	json_t *doc = sink_json(&s);
	CHECK(json_array_size(json_object_get(doc, "services")) == good);
	json_decref(doc);
}

static int count_cmp_desc(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
	return a < b ? 1 : a > b ? -1 : 0;
}

static void stats_check(struct wire_response *rs, const Roster__V1__StatsResponse *pb)
{
	struct roster_stats *st = &rs->stats;
	CHECK(st->revision == pb->revision && st->instances == pb->instances);
	CHECK(st->dns_queries_total == pb->dns_queries_total);
	check_copy(st->site, sizeof(st->site), pb->site);
	check_copy(st->domain, sizeof(st->domain), pb->domain);
	check_copy(st->zone, sizeof(st->zone), pb->zone);
	size_t n = pb->n_client_reports;
	CHECK(st->n_reports == (n < ROSTER_STATS_MAX_REPORTS ? n : ROSTER_STATS_MAX_REPORTS));
	uint64_t *counts = malloc((n > 0 ? n : 1) * sizeof(*counts));
	CHECK(counts != NULL);
	for (size_t i = 0; i < n; i++) {
		counts[i] = pb->client_reports[i]->value;
	}
	qsort(counts, n, sizeof(*counts), count_cmp_desc);
	uint64_t want = 0, got = 0; /* sums wrap alike */
	for (size_t i = 0; i < st->n_reports; i++) {
		want += counts[i];
		got += st->reports[i].count;
		CHECK(memchr(st->reports[i].code, '\0', sizeof(st->reports[i].code)) != NULL);
	}
	free(counts);
	CHECK(want == got);
	if (n <= ROSTER_STATS_MAX_REPORTS) {
		for (size_t i = 0; i < n; i++) {
			const char *code = pb->client_reports[i]->key;
			check_copy(st->reports[i].code, sizeof(st->reports[i].code), code);
			CHECK(st->reports[i].count == pb->client_reports[i]->value);
		}
	}
	/* As roster_stats() leaves it. */
	snprintf(st->server, sizeof(st->server), "%s", SERVER);
	bool good = utf8_ok(st->site) && utf8_ok(st->domain) && utf8_ok(st->zone);
	struct sink s;
	output_stats(sink_open(&s), false, st);
	sink_drop(&s);
	output_stats(sink_open(&s), true, st);
	json_t *doc = sink_json(&s);
	CHECK(!good || json_object_get(doc, "zone") != NULL);
	json_decref(doc);
	output_reports(sink_open(&s), false, st);
	sink_drop(&s);
	output_reports(sink_open(&s), true, st);
	json_decref(sink_json(&s));
	/* `roster register --permanent` names the instance in the stats' zone. */
	struct roster_instance me = {
			.service = "web", .protocol = "tcp", .host = "h.example.", .port = 80};
	output_registered(sink_open(&s), false, &me, st->zone, 7, st->server, true, 0, NULL);
	sink_drop(&s);
	output_registered(sink_open(&s), true, &me, st->zone, 7, st->server, true, 0, NULL);
	json_decref(sink_json(&s));
}

static void watch_check(const struct wire_response *rs, const Roster__V1__WatchEvent *pb)
{
	CHECK((int)rs->watch_kind >= ROSTER_WATCH_SNAPSHOT_BEGIN);
	CHECK((int)rs->watch_kind <= ROSTER_WATCH_REMOVE);
	CHECK((int)rs->watch_kind == (int)pb->kind);
	CHECK(rs->revision == pb->revision);
	check_copy(rs->reason, sizeof(rs->reason), pb->reason);
	CHECK((rs->watch_inst.service != NULL) == (pb->instance != NULL));
	if (pb->instance != NULL) {
		instance_check(&rs->watch_inst, pb->instance);
		instance_json(&rs->watch_inst);
	}
	/* As watch.c's watch_on_event() hands it to the CLI's callback. */
	struct roster_watch_event ev = {
			.kind = rs->watch_kind,
			.revision = rs->revision,
			.instance = rs->watch_inst.service != NULL ? &rs->watch_inst : NULL,
			.reason = rs->reason,
			.server = SERVER,
	};
	struct sink s;
	output_watch_event(sink_open(&s), false, &ev);
	sink_drop(&s);
	output_watch_event(sink_open(&s), true, &ev);
	json_t *doc = sink_json(&s);
	if (ev.instance != NULL && ident_utf8_ok(ev.instance)) {
		CHECK(json_is_object(json_object_get(doc, "instance")));
	}
	json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) {
		return 0;
	}
	uint8_t ctl = data[0];
	data++;
	size--;
	/* Each its own heap copy of exactly the body: a read past it is an
	 * ASan error. */
	uint8_t *body = malloc(size > 0 ? size : 1);
	CHECK(body != NULL);
	memcpy(body, data, size);

	Roster__V1__Response *m = roster__v1__response__unpack(NULL, size, body);
	struct wire_response rs;
	int rc = wire_response_decode(body, size, &rs);
	CHECK(rc == 0 || rc == ROSTER_EPROTO || rc == ROSTER_ENOMEM);
	if (rc != 0) {
		CHECK(rs.query == NULL && rs.list == NULL && rs.watch_inst.priv == NULL);
		bool watch = m != NULL &&
			     m->result_case == ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT;
		int kind = watch ? (int)m->watch_event->kind : 0;
		bool bad_kind = watch &&
				(kind < ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_BEGIN ||
						kind > ROSTER__V1__WATCH_EVENT__KIND__REMOVE);
		CHECK(rc != ROSTER_EPROTO || m == NULL || bad_kind || refused_names(m));
		goto out;
	}
	CHECK(m != NULL);
	CHECK(!refused_names(m));
	CHECK(rs.id == m->id);
	CHECK(rs.error == wire_error_from_code((int)m->error));
	CHECK(!rs.too_large || rs.error == ROSTER_ELIMIT);
	check_copy(rs.message, sizeof(rs.message), m->message);
	CHECK(memchr(rs.reason, '\0', sizeof(rs.reason)) != NULL);
	CHECK((rs.query != NULL) == (rs.result == WIRE_RESULT_QUERY));
	CHECK((rs.list != NULL) == (rs.result == WIRE_RESULT_LIST));
	switch (m->result_case) {
	case ROSTER__V1__RESPONSE__RESULT_QUERY:
		CHECK(rs.result == WIRE_RESULT_QUERY);
		query_check(&rs, m->query, ctl);
		break;
	case ROSTER__V1__RESPONSE__RESULT_LIST:
		CHECK(rs.result == WIRE_RESULT_LIST);
		list_check(&rs, m->list);
		break;
	case ROSTER__V1__RESPONSE__RESULT_STATS:
		CHECK(rs.result == WIRE_RESULT_STATS);
		stats_check(&rs, m->stats);
		break;
	case ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT:
		CHECK(rs.result == WIRE_RESULT_WATCH_EVENT);
		watch_check(&rs, m->watch_event);
		break;
	case ROSTER__V1__RESPONSE__RESULT_OPEN_LEASE:
		CHECK(rs.result == WIRE_RESULT_OPEN_LEASE);
		CHECK(rs.lease == m->open_lease->lease);
		break;
	case ROSTER__V1__RESPONSE__RESULT__NOT_SET:
	case ROSTER__V1__RESPONSE__RESULT_AUTHENTICATE: /* only its error code is read */
		CHECK(rs.result == WIRE_RESULT_NONE);
		break;
	default:
		CHECK(rs.result != WIRE_RESULT_NONE);
		break;
	}
	wire_response_deinit(&rs);
	CHECK(rs.query == NULL && rs.list == NULL && rs.watch_inst.priv == NULL);
out:
	if (m != NULL) {
		roster__v1__response__free_unpacked(m, NULL);
	}
	free(body);
	return 0;
}
