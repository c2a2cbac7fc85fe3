/*
 * server/api/ops: the registration API's operations, driven through
 * api_ops_dispatch() with real protobuf-encoded requests against a real
 * store (in memory: no persistence hooks, or hooks that fail on demand to
 * show how a storage error is answered). Every operation, the tables of
 * bad input (names, ports, statuses, addresses, limits), the revision a
 * deregistration answers, Watch snapshots, replays and live events, Stats
 * from a snapshot, malformed frames and their strikes, and the mapping of
 * every error code.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocfail.h"
#include "common/arena.h"
#include "common/error.h"
#include "proto/frame.h"
#include "roster.pb-c.h"
#include "server/api/convert.h"
#include "server/api/ops.h"
#include "server/api/watch.h"
#include "server/registry/store.h"
#include "server/stats.h"

typedef Roster__V1__Request Request;
typedef Roster__V1__Response Response;

#define MAX_REPLIES 256
#define WALL_MS 1764115200000ull

/* One connection of the API, as the transport holds it. */
static struct {
	struct store_limits limits;
	struct store *store;
	struct rs_arena scratch;
	struct api_counters counters;
	struct api_ops_out out;
	struct api_watch watches[API_OPS_MAX_WATCHES];
	size_t nwatches;
	unsigned strikes;
	uint64_t now_ms;
	struct stats_snapshot snap; /* what the Stats callback hands out */
	bool no_stats;
	api_ops_backup_cb backup; /* NULL: Backup is not available */
	int backup_rc;            /* what the backup callback answers */
	char backup_path[256];    /* the path it was given */
	struct api_ops_result res;
	Response *replies[MAX_REPLIES];
	size_t nreplies;
} F;

/* The transport's store listener: the connection's watches get the change. */
static void changed_cb(const struct store_change *change, void *ud)
{
	(void)ud;
	struct api_watch_sink sink = {&F.out, &F.scratch, &F.counters.watch_events};
	for (size_t k = 0; k < F.nwatches; k++) {
		if (api_watch_matches(&F.watches[k], change->instance->service->name)) {
			cr_assert_eq(api_watch_change_append(&sink, F.watches[k].id, change), 0);
		}
	}
}

static void store_open(const struct store_persist_ops *ops, void *ctx)
{
	store_free(F.store);
	F.store = store_new(&F.limits, ops, ctx, F.now_ms);
	cr_assert_not_null(F.store);
	store_set_listener(F.store, changed_cb, NULL);
}

static void setup(void)
{
	memset(&F, 0, sizeof(F));
	store_limits_default(&F.limits);
	F.limits.max_addresses = 4;
	F.limits.max_metadata_entries = 4;
	F.now_ms = 1000;
	rs_arena_init(&F.scratch, 64 * 1024);
	store_open(NULL, NULL);
}

static void replies_free(void)
{
	for (size_t k = 0; k < F.nreplies; k++) {
		roster__v1__response__free_unpacked(F.replies[k], NULL);
	}
	F.nreplies = 0;
}

static void teardown(void)
{
	replies_free();
	store_free(F.store);
	F.store = NULL;
	rs_arena_deinit(&F.scratch);
	api_ops_out_deinit(&F.out);
}

TestSuite(api_ops, .init = setup, .fini = teardown);

static void stats_cb(struct stats_snapshot *out, void *ud)
{
	cr_assert_eq(ud, &F);
	*out = F.snap;
}

/* Split what the transport would send into Responses. */
static void replies_parse(void)
{
	replies_free();
	size_t off = 0;
	while (off < F.out.len) {
		cr_assert_geq(F.out.len - off, RS_FRAME_HEADER);
		const uint8_t *h = F.out.data + off;
		size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
		cr_assert_leq(len, F.out.len - off - RS_FRAME_HEADER);
		cr_assert_lt(F.nreplies, MAX_REPLIES);
		Response *r = roster__v1__response__unpack(NULL, len, h + RS_FRAME_HEADER);
		cr_assert_not_null(r, "a reply that is not a Response");
		F.replies[F.nreplies++] = r;
		off += RS_FRAME_HEADER + len;
	}
	F.out.len = 0;
}

/* Do with the answer what the transport does with the connection. */
static void result_apply(void)
{
	if (F.res.flags & API_OPS_MALFORMED) {
		F.strikes++;
	}
	if (F.res.flags & API_OPS_WATCH_START) {
		cr_assert_lt(F.nwatches, API_OPS_MAX_WATCHES);
		F.watches[F.nwatches++] = F.res.watch;
	}
	if (F.res.flags & API_OPS_WATCH_CANCEL) {
		for (size_t k = 0; k < F.nwatches; k++) {
			if (F.watches[k].id == F.res.cancel_id) {
				F.watches[k] = F.watches[--F.nwatches];
				break;
			}
		}
	}
}

static void ask_bytes(const uint8_t *frame, size_t len)
{
	const struct api_ops_ctx ctx = {
			.store = F.store,
			.limits = &F.limits,
			.now_ms = F.now_ms,
			.wall_ms = WALL_MS,
			.stats = F.no_stats ? NULL : stats_cb,
			.stats_ud = &F,
			.backup = F.backup,
			.backup_ud = &F,
			.scratch = &F.scratch,
			.counters = &F.counters,
			.watches = F.watches,
			.nwatches = F.nwatches,
			.strikes = F.strikes,
	};
	api_ops_dispatch(&ctx, frame, len, &F.out, &F.res);
	replies_parse();
	result_apply();
}

static void ask(const Request *q)
{
	/* Not on the heap: allocations may be failing (allocfail.h). */
	static uint8_t buf[1 << 20];
	size_t n = roster__v1__request__get_packed_size(q);
	cr_assert_leq(n, sizeof(buf));
	roster__v1__request__pack(q, buf);
	ask_bytes(buf, n);
}

/* Ask a request whose oneof op is @p field (case @p CASE) pointing at @p msg_. */
#define ASK(id_, CASE, field, msg_)                                                                \
	do {                                                                                       \
		Request q_ = ROSTER__V1__REQUEST__INIT;                                            \
		q_.id = (id_);                                                                     \
		q_.op_case = ROSTER__V1__REQUEST__OP_##CASE;                                       \
		q_.field = (msg_);                                                                 \
		ask(&q_);                                                                          \
	} while (0)

/* The one reply of a request that is not a Watch. */
static const Response *reply(void)
{
	cr_assert_eq(F.nreplies, 1, "%zu replies, want 1", F.nreplies);
	return F.replies[0];
}

static const Response *ok_reply(Roster__V1__Response__ResultCase want)
{
	const Response *r = reply();
	cr_assert_eq(r->error, ROSTER__V1__ERROR_CODE__OK, "error %d: %s", r->error, r->message);
	cr_assert_eq(r->result_case, want, "result %d, want %d", r->result_case, want);
	return r;
}

static void expect_error(uint64_t id, Roster__V1__ErrorCode code, const char *needle)
{
	const Response *r = reply();
	cr_expect_eq(r->id, id);
	cr_expect_eq(r->error, code, "error %d, want %d (%s)", r->error, code, r->message);
	cr_expect_not_null(
			strstr(r->message, needle), "message '%s' lacks '%s'", r->message, needle);
	cr_expect_eq(F.res.flags & API_OPS_WRITE, 0, "an error is not a write");
}

/* ---- requests --------------------------------------------------------------- */

static uint64_t open_lease(uint32_t ttl)
{
	Roster__V1__OpenLeaseRequest ol = ROSTER__V1__OPEN_LEASE_REQUEST__INIT;
	ol.ttl_seconds = ttl;
	ASK(1, OPEN_LEASE, open_lease, &ol);
	return ok_reply(ROSTER__V1__RESPONSE__RESULT_OPEN_LEASE)->open_lease->lease;
}

/* A registration as a table holds it: by value. */
struct reg {
	char service[80];
	char protocol[80];
	char host[300];
	uint32_t port;
	int status;
	char addrs[6][48];
	size_t naddrs;
	size_t nmeta;
	uint64_t lease;
};

static struct reg reg_of(const char *service, const char *host, uint32_t port)
{
	struct reg r = {.port = port};
	snprintf(r.service, sizeof(r.service), "%s", service);
	snprintf(r.protocol, sizeof(r.protocol), "tcp");
	snprintf(r.host, sizeof(r.host), "%s", host);
	return r;
}

static void reg_address(struct reg *r, const char *addr)
{
	cr_assert_lt(r->naddrs, 6);
	snprintf(r->addrs[r->naddrs], sizeof(r->addrs[0]), "%s", addr);
	r->naddrs++;
}

static void ask_register(const struct reg *a, uint64_t id)
{
	Roster__V1__Instance in = ROSTER__V1__INSTANCE__INIT;
	in.service = (char *)a->service;
	in.protocol = (char *)a->protocol;
	in.host = (char *)a->host;
	in.port = a->port;
	in.status = (Roster__V1__Status)a->status;
	char *addrs[6];
	cr_assert_leq(a->naddrs, 6);
	for (size_t k = 0; k < a->naddrs; k++) {
		addrs[k] = (char *)a->addrs[k];
	}
	in.addresses = addrs;
	in.n_addresses = a->naddrs;
	Roster__V1__Instance__MetadataEntry e[8], *pe[8];
	char keys[8][24];
	cr_assert_leq(a->nmeta, 8);
	for (size_t k = 0; k < a->nmeta; k++) {
		roster__v1__instance__metadata_entry__init(&e[k]);
		snprintf(keys[k], sizeof(keys[k]), "k%zu", k);
		e[k].key = keys[k];
		e[k].value = "v";
		pe[k] = &e[k];
	}
	in.metadata = pe;
	in.n_metadata = a->nmeta;
	Roster__V1__RegisterRequest rr = ROSTER__V1__REGISTER_REQUEST__INIT;
	rr.instance = &in;
	rr.lease = a->lease;
	ASK(id, REGISTER, register_, &rr);
}

static const Roster__V1__RegisterResponse *must_register(const struct reg *a)
{
	ask_register(a, 2);
	const Response *r = ok_reply(ROSTER__V1__RESPONSE__RESULT_REGISTER);
	cr_expect(F.res.flags & API_OPS_WRITE);
	return r->register_;
}

static void ask_deregister_instance(const char *service, const char *host, uint32_t port)
{
	Roster__V1__InstanceId k = ROSTER__V1__INSTANCE_ID__INIT;
	k.service = (char *)service;
	k.protocol = "tcp";
	k.host = (char *)host;
	k.port = port;
	Roster__V1__DeregisterRequest dr = ROSTER__V1__DEREGISTER_REQUEST__INIT;
	dr.target_case = ROSTER__V1__DEREGISTER_REQUEST__TARGET_INSTANCE;
	dr.instance = &k;
	ASK(3, DEREGISTER, deregister, &dr);
}

static void ask_query(const char *service, const char *protocol, bool include_down)
{
	Roster__V1__QueryRequest qr = ROSTER__V1__QUERY_REQUEST__INIT;
	qr.service = (char *)service;
	qr.protocol = (char *)protocol;
	qr.include_down = include_down;
	ASK(4, QUERY, query, &qr);
}

static void ask_watch(uint64_t id, const char *service, uint64_t since)
{
	Roster__V1__WatchRequest w = ROSTER__V1__WATCH_REQUEST__INIT;
	w.service = (char *)service;
	w.since_revision = since;
	ASK(id, WATCH, watch, &w);
}

static void ask_list(uint64_t id)
{
	Roster__V1__ListRequest list = ROSTER__V1__LIST_REQUEST__INIT;
	ASK(id, LIST, list, &list);
}

static void ask_stats(uint64_t id)
{
	Roster__V1__StatsRequest stats = ROSTER__V1__STATS_REQUEST__INIT;
	ASK(id, STATS, stats, &stats);
}

/* ---- leases ----------------------------------------------------------------- */

Test(api_ops, open_lease_answers_a_new_lease_and_is_a_write)
{
	uint64_t a = open_lease(30);
	cr_expect_neq(a, 0);
	cr_expect(F.res.flags & API_OPS_WRITE);
	cr_expect_eq(F.res.id, 1);
	cr_expect_eq(reply()->open_lease->ttl_seconds, 30);
	uint64_t b = open_lease(0);
	cr_expect_neq(b, a, "every lease its own id");
	cr_expect_eq(reply()->open_lease->ttl_seconds, STORE_TTL_DEFAULT_S, "0: the default");
	cr_expect_not_null(store_lease_find(F.store, a));
	cr_expect_eq(F.counters.requests, 2);
	cr_expect_eq(F.counters.errors, 0);
}

Test(api_ops, open_lease_refuses_a_ttl_out_of_range)
{
	Roster__V1__OpenLeaseRequest ol = ROSTER__V1__OPEN_LEASE_REQUEST__INIT;
	ol.ttl_seconds = STORE_TTL_MAX_S + 1;
	ASK(9, OPEN_LEASE, open_lease, &ol);
	expect_error(9, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT,
			"lease TTL 3601 s out of range (1-3600)");
	cr_expect_eq(F.counters.errors, 1);
}

Test(api_ops, heartbeat_renews_a_known_lease_and_refuses_an_unknown_one)
{
	uint64_t lease = open_lease(20);
	struct reg a = reg_of("web", "w1.example.net", 80);
	a.lease = lease;
	must_register(&a);
	Roster__V1__HeartbeatRequest hb = ROSTER__V1__HEARTBEAT_REQUEST__INIT;
	hb.lease = lease;
	ASK(5, HEARTBEAT, heartbeat, &hb);
	const Response *r = ok_reply(ROSTER__V1__RESPONSE__RESULT_HEARTBEAT);
	cr_expect_eq(r->heartbeat->ttl_seconds, 20);
	cr_expect_eq(r->heartbeat->instances, 1);
	cr_expect_eq(F.res.flags & API_OPS_WRITE, 0, "a renewal is not held for a commit");
	hb.lease = 0x4d;
	ASK(5, HEARTBEAT, heartbeat, &hb);
	expect_error(5, ROSTER__V1__ERROR_CODE__UNKNOWN_LEASE,
			"lease 000000000000004d is unknown or expired: open a new one");
}

/* ---- register ----------------------------------------------------------------- */

Test(api_ops, register_creates_then_updates_and_answers_the_revision)
{
	struct reg a = reg_of("web", "w1.example.net", 80);
	reg_address(&a, "192.0.2.1");
	reg_address(&a, "2001:db8::1");
	a.nmeta = 2;
	const Roster__V1__RegisterResponse *r = must_register(&a);
	cr_expect(r->created);
	uint64_t rev = r->revision;
	cr_expect_eq(rev, store_revision(F.store));
	cr_expect_eq(F.res.id, 2, "the write the transport notes");
	a.port = 80;
	a.status = ROSTER__V1__STATUS__DOWN;
	r = must_register(&a);
	cr_expect_not(r->created, "the same identity is an update");
	cr_expect_gt(r->revision, rev);
	const struct store_key key = {"web", "tcp", "w1.example.net", 80};
	const struct store_instance *i = store_instance_find(F.store, &key);
	cr_assert_not_null(i);
	cr_expect_eq(i->status, STORE_STATUS_DOWN);
	cr_expect_eq(i->naddrs, 2);
	cr_expect_eq(i->nmeta, 2);
	cr_expect_eq(i->registered_at_ms, WALL_MS, "the wall clock of the context");
}

struct bad_reg {
	char name[48];
	struct reg reg;
	bool no_instance;
	Roster__V1__ErrorCode code;
	char message[96];
};

ParameterizedTestParameters(api_ops, bad_registrations_are_refused)
{
	static struct bad_reg cases[] = {
			{"invalid service", {"-web", "tcp", "w1.example.net", 80}, false,
					ROSTER__V1__ERROR_CODE__INVALID_NAME,
					"invalid service name '-web'"},
			{"service with a dot", {"we.b", "tcp", "w1.example.net", 80}, false,
					ROSTER__V1__ERROR_CODE__INVALID_NAME,
					"invalid service name 'we.b'"},
			{"empty service", {"", "tcp", "w1.example.net", 80}, false,
					ROSTER__V1__ERROR_CODE__INVALID_NAME,
					"invalid service name ''"},
			{"invalid protocol", {"web", "t_cp", "w1.example.net", 80}, false,
					ROSTER__V1__ERROR_CODE__INVALID_NAME,
					"invalid protocol name 't_cp'"},
			{"invalid host", {"web", "tcp", "w1 .example.net", 80}, false,
					ROSTER__V1__ERROR_CODE__INVALID_NAME,
					"invalid host name 'w1 .example.net'"},
			{"port 0", {"web", "tcp", "w1.example.net", 0}, false,
					ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT,
					"invalid port 0 (1-65535)"},
			{"port over 65535", {"web", "tcp", "w1.example.net", 65536}, false,
					ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT,
					"invalid port 65536"},
			{"unknown status", {"web", "tcp", "w1.example.net", 80, 9}, false,
					ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT,
					"unknown status 9"},
			{"bad address", {"web", "tcp", "w1.example.net", 80, 0, {"192.0.2.300"}, 1},
					false, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT,
					"address '192.0.2.300' is not an IPv4 or IPv6 address"},
			{"too many addresses",
					{"web", "tcp", "w1.example.net", 80, 0,
							{"192.0.2.1", "192.0.2.2", "192.0.2.3",
									"192.0.2.4", "192.0.2.5"},
							5},
					false, ROSTER__V1__ERROR_CODE__LIMIT_EXCEEDED,
					"5 addresses on one instance (limit 4)"},
			{"too many metadata entries",
					{"web", "tcp", "w1.example.net", 80, 0, {{0}}, 0, 5}, false,
					ROSTER__V1__ERROR_CODE__LIMIT_EXCEEDED,
					"5 metadata entries on one instance (limit 4)"},
			{"unknown lease",
					{"web", "tcp", "w1.example.net", 80, 0, {{0}}, 0, 0, 0x4d},
					false, ROSTER__V1__ERROR_CODE__UNKNOWN_LEASE,
					"lease 000000000000004d is unknown or expired"},
			{"no instance", {{0}}, true, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT,
					"register: missing instance"},
	};
	return cr_make_param_array(struct bad_reg, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_reg *c, api_ops, bad_registrations_are_refused)
{
	if (c->no_instance) {
		Roster__V1__RegisterRequest rr = ROSTER__V1__REGISTER_REQUEST__INIT;
		ASK(7, REGISTER, register_, &rr);
	} else {
		ask_register(&c->reg, 7);
	}
	expect_error(7, c->code, c->message);
	cr_expect_eq(store_revision(F.store), 0, "%s: nothing written", c->name);
}

Test(api_ops, a_refused_registration_names_the_limit_it_hit)
{
	F.limits.max_instances_per_lease = 1;
	store_open(NULL, NULL);
	uint64_t lease = open_lease(10);
	struct reg a = reg_of("web", "w1.example.net", 80);
	a.lease = lease;
	must_register(&a);
	a.port = 81;
	ask_register(&a, 8);
	expect_error(8, ROSTER__V1__ERROR_CODE__LIMIT_EXCEEDED, "(max-instances-per-lease 1)");
	F.limits.max_instances = 2;
	store_open(NULL, NULL);
	a = reg_of("web", "w1.example.net", 80);
	must_register(&a);
	a.port = 81;
	must_register(&a);
	a.port = 82;
	ask_register(&a, 9);
	expect_error(9, ROSTER__V1__ERROR_CODE__LIMIT_EXCEEDED,
			"3 instances in the registry (max-instances 2)");
}

/* ---- storage errors ---------------------------------------------------------- */

static int full_begin(void *ctx)
{
	(void)ctx;
	return 0;
}
static int full_commit(void *ctx)
{
	(void)ctx;
	return 0;
}
static void full_abort(void *ctx)
{
	(void)ctx;
}
static int full_iput(void *ctx, struct store_instance *i)
{
	(void)i;
	return *(int *)ctx;
}
static int full_idel(void *ctx, const struct store_instance *i)
{
	(void)i;
	return *(int *)ctx;
}
static int full_lput(void *ctx, const struct store_lease *l)
{
	(void)l;
	return *(int *)ctx;
}
static int full_ldel(void *ctx, uint64_t id)
{
	(void)id;
	return *(int *)ctx;
}
static int full_rev(void *ctx, uint64_t rev)
{
	(void)ctx;
	(void)rev;
	return 0;
}

/* A disk whose every write fails with the code it holds. */
static const struct store_persist_ops failing_ops = {full_begin, full_commit, full_abort, full_iput,
		full_idel, full_lput, full_ldel, full_rev};

Test(api_ops, a_full_store_is_storage_full_at_once)
{
	static int code = RS_ESTORE_FULL;
	store_open(&failing_ops, &code);
	struct reg a = reg_of("web", "w1.example.net", 80);
	ask_register(&a, 11);
	expect_error(11, ROSTER__V1__ERROR_CODE__STORAGE_FULL, "");
	Roster__V1__OpenLeaseRequest ol = ROSTER__V1__OPEN_LEASE_REQUEST__INIT;
	ASK(12, OPEN_LEASE, open_lease, &ol);
	expect_error(12, ROSTER__V1__ERROR_CODE__STORAGE_FULL, "cannot open lease");
	code = RS_ESTORE;
	ask_register(&a, 13);
	expect_error(13, ROSTER__V1__ERROR_CODE__STORAGE_ERROR, "");
}

/* ---- deregister and status ------------------------------------------------------ */

Test(api_ops, deregister_answers_the_revision_after_the_removal)
{
	must_register(&(struct reg){"web", "tcp", "w1.example.net", 80});
	must_register(&(struct reg){"web", "tcp", "w2.example.net", 80});
	uint64_t before = store_revision(F.store);
	ask_deregister_instance("web", "w1.example.net", 80);
	const Response *r = ok_reply(ROSTER__V1__RESPONSE__RESULT_DEREGISTER);
	cr_expect(F.res.flags & API_OPS_WRITE);
	cr_expect_eq(r->deregister->removed, 1);
	cr_expect_gt(r->deregister->revision, before);
	cr_expect_eq(r->deregister->revision, store_revision(F.store));
	ask_deregister_instance("web", "w1.example.net", 80);
	expect_error(3, ROSTER__V1__ERROR_CODE__NOT_FOUND,
			"no instance _web._tcp w1.example.net:80");
	ask_deregister_instance("web", "w2 .example.net", 80);
	expect_error(3, ROSTER__V1__ERROR_CODE__INVALID_NAME, "invalid host name");
}

Test(api_ops, deregistering_a_lease_removes_its_instances)
{
	uint64_t lease = open_lease(10);
	struct reg a = reg_of("web", "w1.example.net", 80);
	a.lease = lease;
	must_register(&a);
	a.port = 81;
	must_register(&a);
	uint64_t before = store_revision(F.store);
	Roster__V1__DeregisterRequest dr = ROSTER__V1__DEREGISTER_REQUEST__INIT;
	dr.target_case = ROSTER__V1__DEREGISTER_REQUEST__TARGET_LEASE;
	dr.lease = lease;
	ASK(6, DEREGISTER, deregister, &dr);
	const Response *r = ok_reply(ROSTER__V1__RESPONSE__RESULT_DEREGISTER);
	cr_expect_eq(r->deregister->removed, 2);
	cr_expect_eq(r->deregister->revision, store_revision(F.store));
	cr_expect_geq(r->deregister->revision, before + 2, "one revision per instance removed");
	cr_expect_null(store_lease_find(F.store, lease));
	ASK(6, DEREGISTER, deregister, &dr);
	expect_error(6, ROSTER__V1__ERROR_CODE__UNKNOWN_LEASE, "lease ");
	dr.target_case = ROSTER__V1__DEREGISTER_REQUEST__TARGET__NOT_SET;
	ASK(6, DEREGISTER, deregister, &dr);
	expect_error(6, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT, "give an instance or a lease");
}

static void ask_set_status(const char *host, Roster__V1__Status st)
{
	Roster__V1__InstanceId k = ROSTER__V1__INSTANCE_ID__INIT;
	k.service = "web";
	k.protocol = "tcp";
	k.host = (char *)host;
	k.port = 80;
	Roster__V1__SetStatusRequest ss = ROSTER__V1__SET_STATUS_REQUEST__INIT;
	ss.instance = &k;
	ss.status = st;
	ASK(10, SET_STATUS, set_status, &ss);
}

Test(api_ops, set_status_changes_the_status_and_refuses_the_unsettable)
{
	must_register(&(struct reg){"web", "tcp", "w1.example.net", 80});
	ask_set_status("w1.example.net", ROSTER__V1__STATUS__DOWN);
	const Response *r = ok_reply(ROSTER__V1__RESPONSE__RESULT_SET_STATUS);
	cr_expect(F.res.flags & API_OPS_WRITE);
	cr_expect_eq(r->set_status->revision, store_revision(F.store));
	const struct store_key key = {"web", "tcp", "w1.example.net", 80};
	cr_expect_eq(store_instance_find(F.store, &key)->status, STORE_STATUS_DOWN);
	ask_set_status("w1.example.net", ROSTER__V1__STATUS__STATUS_UNSPECIFIED);
	expect_error(10, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT, "STARTING, UP or DOWN");
	ask_set_status("w9.example.net", ROSTER__V1__STATUS__UP);
	expect_error(10, ROSTER__V1__ERROR_CODE__NOT_FOUND,
			"no instance _web._tcp w9.example.net:80");
}

/* ---- query and list --------------------------------------------------------- */

/* An address given twice, in any spelling, is kept once, in first order. */
Test(api_ops, an_address_given_twice_is_kept_once)
{
	struct reg a = reg_of("web", "w1.example.net", 80);
	reg_address(&a, "2001:db8::1");
	reg_address(&a, "192.0.2.1");
	reg_address(&a, "2001:DB8:0::1");
	reg_address(&a, "192.0.2.1");
	must_register(&a);
	ask_query("web", "tcp", false);
	const Response *r = ok_reply(ROSTER__V1__RESPONSE__RESULT_QUERY);
	cr_assert_eq(r->query->n_instances, 1);
	const Roster__V1__Instance *i = r->query->instances[0];
	cr_assert_eq(i->n_addresses, 2);
	cr_expect_str_eq(i->addresses[0], "2001:db8::1");
	cr_expect_str_eq(i->addresses[1], "192.0.2.1");
}

Test(api_ops, query_answers_the_served_instances)
{
	struct reg a = reg_of("web", "w1.example.net", 80);
	reg_address(&a, "192.0.2.1");
	a.nmeta = 1;
	must_register(&a);
	struct reg b = reg_of("web", "w2.example.net", 80);
	b.status = ROSTER__V1__STATUS__STARTING;
	must_register(&b);
	struct reg c = reg_of("web", "w3.example.net", 53);
	snprintf(c.protocol, sizeof(c.protocol), "udp");
	must_register(&c);
	ask_query("web", "tcp", false);
	const Response *r = ok_reply(ROSTER__V1__RESPONSE__RESULT_QUERY);
	cr_assert_eq(r->query->n_instances, 1, "STARTING is not served");
	const Roster__V1__Instance *i = r->query->instances[0];
	cr_expect_str_eq(i->host, "w1.example.net.");
	cr_expect_eq(i->port, 80);
	cr_expect_eq(i->n_addresses, 1);
	cr_expect_str_eq(i->addresses[0], "192.0.2.1");
	cr_expect_eq(i->n_metadata, 1);
	cr_expect_eq(i->expiry, ROSTER__V1__EXPIRY_KIND__NEVER);
	cr_expect_eq(i->status, ROSTER__V1__STATUS__UP);
	cr_expect_eq(r->query->revision, store_revision(F.store));
	cr_expect_not(r->query->preserving);
	cr_expect_eq(F.res.flags, 0, "a read asks nothing of the transport");
	ask_query("web", "tcp", true);
	cr_expect_eq(ok_reply(ROSTER__V1__RESPONSE__RESULT_QUERY)->query->n_instances, 2);
	ask_query("web", "", true);
	cr_expect_eq(ok_reply(ROSTER__V1__RESPONSE__RESULT_QUERY)->query->n_instances, 3,
			"no protocol: every protocol of the service");
	ask_query("nosuch", "", true);
	cr_expect_eq(ok_reply(ROSTER__V1__RESPONSE__RESULT_QUERY)->query->n_instances, 0);
}

/* Names the server must refuse itself, whatever a client checked first. */
struct bad_name {
	char service[80];
	char protocol[80];
};

ParameterizedTestParameters(api_ops, query_refuses_an_invalid_name)
{
	static struct bad_name cases[] = {
			{"-web", ""},
			{"web-", ""},
			{"w eb", ""},
			{"we.b", ""},
			{"_web", ""},
			{"w\xc3\xa9", ""},
			{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ""},
			{"web", "t_cp"},
			{"web", "-tcp"},
			{"web", "tc p"},
	};
	return cr_make_param_array(struct bad_name, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_name *c, api_ops, query_refuses_an_invalid_name)
{
	ask_query(c->service, c->protocol, true);
	expect_error(4, ROSTER__V1__ERROR_CODE__INVALID_NAME, "invalid service or protocol name");
}

Test(api_ops, query_without_a_service_is_refused)
{
	ask_query("", "tcp", false);
	expect_error(4, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT, "query: missing service");
}

Test(api_ops, list_summarises_every_service)
{
	must_register(&(struct reg){"web", "tcp", "w1.example.net", 80});
	must_register(&(struct reg){"web", "tcp", "w2.example.net", 80, ROSTER__V1__STATUS__DOWN});
	must_register(&(struct reg){
			"db", "tcp", "d1.example.net", 5432, ROSTER__V1__STATUS__STARTING});
	ask_list(20);
	const Response *r = ok_reply(ROSTER__V1__RESPONSE__RESULT_LIST);
	cr_expect_eq(r->id, 20);
	cr_assert_eq(r->list->n_services, 2);
	const Roster__V1__ServiceSummary *db = r->list->services[0], *web = r->list->services[1];
	cr_expect_str_eq(db->service, "db", "stable order");
	cr_expect_eq(db->starting, 1);
	cr_expect_str_eq(web->service, "web");
	cr_expect_eq(web->up, 1);
	cr_expect_eq(web->down, 1);
	cr_expect_eq(r->list->revision, store_revision(F.store));
}

/* ---- watch -------------------------------------------------------------------- */

static const Roster__V1__WatchEvent *event(size_t k, uint64_t watch_id)
{
	cr_assert_lt(k, F.nreplies);
	const Response *r = F.replies[k];
	cr_assert_eq(r->result_case, ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT, "reply %zu", k);
	cr_expect_eq(r->id, watch_id);
	return r->watch_event;
}

Test(api_ops, watch_starts_with_a_snapshot_of_its_service)
{
	must_register(&(struct reg){"web", "tcp", "w1.example.net", 80});
	must_register(&(struct reg){"web", "tcp", "w2.example.net", 80});
	must_register(&(struct reg){"db", "tcp", "d1.example.net", 5432});
	uint64_t rev = store_revision(F.store);
	ask_watch(30, "WEB", 0);
	cr_expect_eq(F.res.flags, API_OPS_WATCH_START);
	cr_expect_eq(F.res.watch.id, 30);
	cr_expect_str_eq(F.res.watch.service, "web", "compared in lower case");
	cr_assert_eq(F.nreplies, 4, "begin, two instances, end");
	cr_expect_eq(event(0, 30)->kind, ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_BEGIN);
	cr_expect_eq(event(0, 30)->revision, rev);
	cr_expect_eq(event(1, 30)->kind, ROSTER__V1__WATCH_EVENT__KIND__UPSERT);
	cr_expect_str_eq(event(1, 30)->instance->service, "web");
	cr_expect_eq(event(2, 30)->kind, ROSTER__V1__WATCH_EVENT__KIND__UPSERT);
	cr_expect_eq(event(3, 30)->kind, ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_END);
	cr_expect_eq(F.counters.watch_events, 4);
}

Test(api_ops, watch_replays_the_journal_after_a_revision_then_follows_changes)
{
	must_register(&(struct reg){"web", "tcp", "w1.example.net", 80});
	uint64_t since = store_revision(F.store);
	must_register(&(struct reg){"web", "tcp", "w2.example.net", 80});
	must_register(&(struct reg){"db", "tcp", "d1.example.net", 5432});
	ask_watch(31, "web", since);
	cr_assert_eq(F.nreplies, 1, "only what changed after the revision, only its service");
	cr_expect_eq(event(0, 31)->kind, ROSTER__V1__WATCH_EVENT__KIND__UPSERT);
	cr_expect_str_eq(event(0, 31)->instance->host, "w2.example.net.");
	ask_watch(32, "", store_revision(F.store));
	cr_expect_eq(F.nreplies, 0, "nothing new: the watch starts silent");
	cr_expect(F.res.flags & API_OPS_WATCH_START);
	/* A write: its events come ahead of its reply, in one buffer. */
	ask_deregister_instance("web", "w1.example.net", 80);
	cr_assert_eq(F.nreplies, 3);
	cr_expect_eq(F.replies[0]->result_case, ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT);
	cr_expect_eq(F.replies[1]->result_case, ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT);
	cr_expect_eq(F.replies[0]->watch_event->kind, ROSTER__V1__WATCH_EVENT__KIND__REMOVE);
	cr_expect_str_eq(F.replies[0]->watch_event->reason, "deregistered");
	cr_expect_eq(F.replies[2]->result_case, ROSTER__V1__RESPONSE__RESULT_DEREGISTER);
}

Test(api_ops, watch_refuses_an_invalid_service_name)
{
	const char *bad[] = {"-web", "web-", "w eb", "we.b", "_web", "w\xc3\xa9",
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		ask_watch(33, bad[k], 0);
		expect_error(33, ROSTER__V1__ERROR_CODE__INVALID_NAME, "invalid service name");
		cr_expect_eq(F.res.flags & API_OPS_WATCH_START, 0, "'%s' is not watched", bad[k]);
	}
	cr_expect_eq(F.nwatches, 0);
}

Test(api_ops, watches_are_capped_and_cancelled_by_id)
{
	for (uint64_t k = 0; k < API_OPS_MAX_WATCHES; k++) {
		ask_watch(100 + k, "web", 0);
		cr_assert(F.res.flags & API_OPS_WATCH_START);
	}
	ask_watch(999, "web", 0);
	expect_error(999, ROSTER__V1__ERROR_CODE__LIMIT_EXCEEDED, "at most 64 watches");
	Roster__V1__CancelWatchRequest cw = ROSTER__V1__CANCEL_WATCH_REQUEST__INIT;
	cw.watch_id = 105;
	ASK(40, CANCEL_WATCH, cancel_watch, &cw);
	ok_reply(ROSTER__V1__RESPONSE__RESULT_CANCEL_WATCH);
	cr_expect(F.res.flags & API_OPS_WATCH_CANCEL);
	cr_expect_eq(F.res.cancel_id, 105);
	cr_expect_eq(F.nwatches, API_OPS_MAX_WATCHES - 1);
	ASK(40, CANCEL_WATCH, cancel_watch, &cw);
	expect_error(40, ROSTER__V1__ERROR_CODE__NOT_FOUND, "no watch with id 105");
	cr_expect_eq(F.res.flags & API_OPS_WATCH_CANCEL, 0);
}

/* ---- stats ---------------------------------------------------------------------- */

Test(api_ops, stats_answers_from_the_snapshot)
{
	struct stats_snapshot *s = &F.snap;
	snprintf(s->site, sizeof(s->site), "lon6");
	snprintf(s->domain, sizeof(s->domain), "example.net.");
	snprintf(s->zone, sizeof(s->zone), "services.lon6.example.net.");
	s->uptime_ms = 12345;
	s->store.revision = 77;
	s->store.journal_first = 5;
	s->store.preserving = true;
	s->store.sizes = (struct store_sizes){
			.leases = 3, .instances = 9, .services = 2, .up = 7, .stale = 1};
	s->store.counters = (struct store_counters){
			.heartbeats = 11, .registrations = 12, .expirations = 13};
	s->persist.bytes = 65536;
	s->api.connections = 4;
	s->dns.running = true;
	s->dns.answers.queries[ANSWER_Q_A][ANSWER_UDP] = 100;
	s->dns.answers.queries[ANSWER_Q_SRV][ANSWER_TCP] = 20;
	s->dns.reports.ncodes = 2;
	snprintf(s->dns.reports.codes[0].code, sizeof(s->dns.reports.codes[0].code), "crash");
	s->dns.reports.codes[0].count = 3;
	snprintf(s->dns.reports.codes[1].code, sizeof(s->dns.reports.codes[1].code), "timeout");
	s->dns.reports.codes[1].count = 1;
	s->dns.reports.other = 6;
	ask_stats(50);
	const Roster__V1__StatsResponse *st = ok_reply(ROSTER__V1__RESPONSE__RESULT_STATS)->stats;
	cr_expect_eq(st->revision, 77);
	cr_expect(st->preserving);
	cr_expect_eq(st->leases, 3);
	cr_expect_eq(st->instances, 9);
	cr_expect_eq(st->instances_up, 7);
	cr_expect_eq(st->instances_stale, 1);
	cr_expect_eq(st->services, 2);
	cr_expect_eq(st->heartbeats_total, 11);
	cr_expect_eq(st->registrations_total, 12);
	cr_expect_eq(st->expirations_total, 13);
	cr_expect_eq(st->api_connections, 4);
	cr_expect_eq(st->store_bytes, 65536);
	cr_expect_eq(st->uptime_ms, 12345);
	cr_expect_str_eq(st->site, "lon6");
	cr_expect_str_eq(st->domain, "example.net.");
	cr_expect_str_eq(st->zone, "services.lon6.example.net.");
	cr_expect_eq(st->journal_first_revision, 5);
	cr_expect_eq(st->dns_queries_total, 120, "every type and transport");
	cr_assert_eq(st->n_client_reports, 3);
	cr_expect_str_eq(st->client_reports[0]->key, "crash");
	cr_expect_eq(st->client_reports[0]->value, 3);
	cr_expect_str_eq(st->client_reports[1]->key, "timeout");
	cr_expect_str_eq(st->client_reports[2]->key, "other");
	cr_expect_eq(st->client_reports[2]->value, 6);
}

Test(api_ops, stats_without_dns_have_no_reports_and_without_a_source_are_unsupported)
{
	F.snap.dns.reports.ncodes = 1; /* not running: ignored */
	ask_stats(51);
	const Roster__V1__StatsResponse *st = ok_reply(ROSTER__V1__RESPONSE__RESULT_STATS)->stats;
	cr_expect_eq(st->n_client_reports, 0);
	cr_expect_eq(st->dns_queries_total, 0);
	F.no_stats = true;
	ask_stats(52);
	expect_error(52, ROSTER__V1__ERROR_CODE__UNSUPPORTED, "stats");
}

/* ---- frames the API does not understand ------------------------------------------ */

Test(api_ops, a_malformed_frame_is_answered_and_the_third_closes)
{
	const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	for (unsigned k = 1; k <= API_OPS_STRIKES; k++) {
		ask_bytes(garbage, sizeof(garbage));
		expect_error(0, ROSTER__V1__ERROR_CODE__MALFORMED, "malformed request (5 bytes)");
		cr_expect(F.res.flags & API_OPS_MALFORMED);
		cr_expect_eq((F.res.flags & API_OPS_CLOSE) != 0, k == API_OPS_STRIKES, "strike %u",
				k);
	}
	cr_expect_eq(F.counters.malformed, API_OPS_STRIKES);
	cr_expect_eq(F.counters.requests, API_OPS_STRIKES);
}

Test(api_ops, a_request_over_its_unpack_budget_is_malformed)
{
	/* 20,000 empty metadata entries: 2 bytes each on the wire, far more
	 * unpacked than 8 times the frame. */
	enum { N = 20000 };
	size_t len = 0;
	uint8_t *inst = malloc(2 * N), *frame = malloc(2 * N + 16);
	cr_assert(inst != NULL && frame != NULL);
	for (size_t k = 0; k < N; k++) {
		inst[len++] = 8 << 3 | 2; /* Instance.metadata, length-delimited */
		inst[len++] = 0;
	}
	/* Request.register (12) { RegisterRequest.instance (1) { inst } } */
	size_t n = 0;
	uint8_t reg[8];
	size_t rl = 0;
	reg[rl++] = 1 << 3 | 2;
	for (size_t v = len;; v >>= 7) {
		reg[rl++] = (uint8_t)(v & 0x7f) | (v > 0x7f ? 0x80 : 0);
		if (v <= 0x7f) {
			break;
		}
	}
	frame[n++] = 12 << 3 | 2;
	for (size_t v = rl + len;; v >>= 7) {
		frame[n++] = (uint8_t)(v & 0x7f) | (v > 0x7f ? 0x80 : 0);
		if (v <= 0x7f) {
			break;
		}
	}
	memcpy(frame + n, reg, rl);
	memcpy(frame + n + rl, inst, len);
	ask_bytes(frame, n + rl + len);
	expect_error(0, ROSTER__V1__ERROR_CODE__MALFORMED, "not a roster.v1.Request");
	free(inst);
	free(frame);
}

Test(api_ops, an_empty_envelope_is_unsupported)
{
	Request q = ROSTER__V1__REQUEST__INIT;
	q.id = 60;
	ask(&q);
	expect_error(60, ROSTER__V1__ERROR_CODE__UNSUPPORTED, "unsupported or missing operation");
	cr_expect_eq(F.res.flags & API_OPS_MALFORMED, 0, "a valid Request is no strike");
}

/* ---- error codes ---------------------------------------------------------------- */

struct code_case {
	int rc;
	Roster__V1__ErrorCode code;
};

ParameterizedTestParameters(api_ops, errors_map_to_their_codes)
{
	static struct code_case cases[] = {
			{RS_ENAME_EMPTY, ROSTER__V1__ERROR_CODE__INVALID_NAME},
			{RS_ENAME_LABEL_LONG, ROSTER__V1__ERROR_CODE__INVALID_NAME},
			{RS_ENAME_LONG, ROSTER__V1__ERROR_CODE__INVALID_NAME},
			{RS_ENAME_CHAR, ROSTER__V1__ERROR_CODE__INVALID_NAME},
			{RS_ENAME_HYPHEN, ROSTER__V1__ERROR_CODE__INVALID_NAME},
			{RS_ENAME_NUMERIC, ROSTER__V1__ERROR_CODE__INVALID_NAME},
			{RS_ENAME_SINGLE, ROSTER__V1__ERROR_CODE__INVALID_NAME},
			{RS_EPORT, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT},
			{RS_EINVAL, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT},
			{RS_ETTL, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT},
			{RS_ESTATUS, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT},
			{RS_EADDR, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT},
			{RS_ELEASE, ROSTER__V1__ERROR_CODE__UNKNOWN_LEASE},
			{RS_ENOENT, ROSTER__V1__ERROR_CODE__NOT_FOUND},
			{RS_ELIMIT, ROSTER__V1__ERROR_CODE__LIMIT_EXCEEDED},
			{RS_EFRAME_BIG, ROSTER__V1__ERROR_CODE__FRAME_TOO_LARGE},
			{RS_EFRAME_EMPTY, ROSTER__V1__ERROR_CODE__MALFORMED},
			{RS_EPROTO, ROSTER__V1__ERROR_CODE__MALFORMED},
			{RS_ESTORE_FULL, ROSTER__V1__ERROR_CODE__STORAGE_FULL},
			{RS_ENOSPC, ROSTER__V1__ERROR_CODE__STORAGE_FULL},
			{RS_ESTORE, ROSTER__V1__ERROR_CODE__STORAGE_ERROR},
			{RS_ESTORE_PANIC, ROSTER__V1__ERROR_CODE__STORAGE_ERROR},
			{RS_EIO, ROSTER__V1__ERROR_CODE__STORAGE_ERROR},
			{RS_ENOMEM, ROSTER__V1__ERROR_CODE__UNAVAILABLE},
			{RS_EAGAIN, ROSTER__V1__ERROR_CODE__UNAVAILABLE},
			{RS_ENOTSUP, ROSTER__V1__ERROR_CODE__UNSUPPORTED},
			{RS_EEXIST, ROSTER__V1__ERROR_CODE__INTERNAL},
			{RS_EFRAME_TRUNC, ROSTER__V1__ERROR_CODE__INTERNAL},
			{RS_ECONF, ROSTER__V1__ERROR_CODE__INTERNAL},
			{RS_EPERM, ROSTER__V1__ERROR_CODE__PERMISSION_DENIED},
			{-9999, ROSTER__V1__ERROR_CODE__INTERNAL},
	};
	return cr_make_param_array(struct code_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct code_case *c, api_ops, errors_map_to_their_codes)
{
	cr_assert_eq(api_ops_error_append(&F.out, 70, c->rc, "why"), 0);
	replies_parse();
	const Response *r = reply();
	cr_expect_eq(r->id, 70);
	cr_expect_eq(r->error, c->code, "%s (%d): code %d, want %d", rs_strerror(c->rc), c->rc,
			r->error, c->code);
	cr_expect_str_eq(r->message, "why");
}

/* ---- limits per instance, statuses, removal reasons ------------------------- */

/* Checked while converting the request, before the store sees it (so the
 * store's own STORE_LIMIT_ADDRESSES and _METADATA_ENTRIES refusals are
 * never what the API answers). */
Test(api_ops, a_registration_over_the_address_or_metadata_limit_names_it)
{
	struct reg a = reg_of("web", "w1.example.net", 80);
	for (int k = 0; k < 5; k++) {
		char addr[32];
		snprintf(addr, sizeof(addr), "192.0.2.%d", k + 1);
		reg_address(&a, addr);
	}
	ask_register(&a, 11);
	expect_error(11, ROSTER__V1__ERROR_CODE__LIMIT_EXCEEDED,
			"5 addresses on one instance (limit 4)");
	a.naddrs = 4;
	a.nmeta = 5;
	ask_register(&a, 12);
	expect_error(12, ROSTER__V1__ERROR_CODE__LIMIT_EXCEEDED,
			"5 metadata entries on one instance (limit 4)");
	a.nmeta = 4;
	must_register(&a);
	const struct store_key key = {"web", "tcp", "w1.example.net", 80};
	cr_expect_eq(store_instance_find(F.store, &key)->naddrs, 4);
	cr_expect_eq(store_instance_find(F.store, &key)->nmeta, 4);
}

Test(api_ops, set_status_to_starting_and_without_an_instance)
{
	must_register(&(struct reg){"web", "tcp", "w1.example.net", 80});
	ask_set_status("w1.example.net", ROSTER__V1__STATUS__STARTING);
	ok_reply(ROSTER__V1__RESPONSE__RESULT_SET_STATUS);
	const struct store_key key = {"web", "tcp", "w1.example.net", 80};
	cr_expect_eq(store_instance_find(F.store, &key)->status, STORE_STATUS_STARTING);
	Roster__V1__SetStatusRequest ss = ROSTER__V1__SET_STATUS_REQUEST__INIT;
	ss.status = ROSTER__V1__STATUS__UP;
	ASK(13, SET_STATUS, set_status, &ss);
	expect_error(13, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT, "set_status: missing instance");
	cr_expect_eq(store_instance_find(F.store, &key)->status, STORE_STATUS_STARTING);
}

/* A watcher is told why an instance went: its lease closed, or expired. */
Test(api_ops, watch_events_name_the_reason_of_a_removal)
{
	uint64_t closed = open_lease(5);
	uint64_t expiring = open_lease(1);
	struct reg a = reg_of("web", "w1.example.net", 80);
	a.lease = closed;
	must_register(&a);
	struct reg b = reg_of("web", "w2.example.net", 80);
	b.lease = expiring;
	must_register(&b);
	ask_watch(40, "web", store_revision(F.store));
	cr_assert_eq(F.nreplies, 0, "nothing to replay");
	Roster__V1__DeregisterRequest dr = ROSTER__V1__DEREGISTER_REQUEST__INIT;
	dr.target_case = ROSTER__V1__DEREGISTER_REQUEST__TARGET_LEASE;
	dr.lease = closed;
	ASK(41, DEREGISTER, deregister, &dr);
	cr_assert_eq(F.nreplies, 2, "the event, then the answer");
	cr_expect_eq(event(0, 40)->kind, ROSTER__V1__WATCH_EVENT__KIND__REMOVE);
	cr_expect_str_eq(event(0, 40)->reason, "lease-closed");
	cr_expect_str_eq(event(0, 40)->instance->host, "w1.example.net.");
	uint32_t n = 0;
	cr_assert_eq(store_tick(F.store, F.now_ms + 1200, &n), 0);
	cr_assert_eq(n, 1);
	replies_parse();
	cr_assert_eq(F.nreplies, 1);
	cr_expect_eq(event(0, 40)->kind, ROSTER__V1__WATCH_EVENT__KIND__REMOVE);
	cr_expect_str_eq(event(0, 40)->reason, "expired");
	cr_expect_str_eq(event(0, 40)->instance->host, "w2.example.net.");
}

/* ---- out of memory (tests/faults/allocfail.h) ------------------------------- */

/* What one dispatch under an allocation failure answered: a whole reply,
 * one UNAVAILABLE error, or no reply and the connection closed. Never a
 * part of a reply. @return the reply's result case, or -1 (error), or -2
 * (closed). */
static int outcome_under_failure(size_t k, void (*ask_fn)(void))
{
	api_ops_out_deinit(&F.out); /* the reply's buffer is allocated anew */
	F.strikes = 0;              /* each try as on a fresh connection */
	allocfail_arm(k);
	ask_fn();
	allocfail_disarm();
	if (F.res.flags & API_OPS_CLOSE) {
		cr_assert_eq(F.nreplies, 0,
				"allocation %zu: closed after a partial reply: %d %d %s", k,
				F.replies[0]->error, F.replies[0]->result_case,
				F.replies[0]->message);
		return -2;
	}
	/* Never MALFORMED: a request the server lacked the memory to unpack is
	 * UNAVAILABLE like every other refusal for memory, and no strike. */
	cr_assert_eq(F.res.flags & API_OPS_MALFORMED, 0, "allocation %zu: a strike", k);
	if (F.nreplies == 1 && F.replies[0]->error != ROSTER__V1__ERROR_CODE__OK) {
		cr_assert_eq(F.replies[0]->error, ROSTER__V1__ERROR_CODE__UNAVAILABLE,
				"allocation %zu: %s", k, F.replies[0]->message);
		cr_assert(strstr(F.replies[0]->message, "memory") != NULL, "%s",
				F.replies[0]->message);
		return -1;
	}
	return 0;
}

static void ask_big_query(void)
{
	ask_query("web", "tcp", false);
}

Test(api_ops, a_query_without_memory_is_refused_whole)
{
	/* Enough instances for the answer to outgrow the scratch arena. */
	for (int h = 0; h < 600; h++) {
		char host[64];
		snprintf(host, sizeof(host), "node-%04d.rack-%02d.example.net", h, h % 40);
		struct reg a = reg_of("web", host, 443);
		reg_address(&a, "192.0.2.1");
		reg_address(&a, "2001:db8::1");
		a.nmeta = 4;
		must_register(&a);
	}
	uint64_t rev = store_revision(F.store);
	int refused = 0, closed = 0;
	for (size_t k = 1;; k++) {
		cr_assert_lt(k, 200);
		int got = outcome_under_failure(k, ask_big_query);
		bool struck = allocfail_struck();
		if (!struck) {
			const Response *r = ok_reply(ROSTER__V1__RESPONSE__RESULT_QUERY);
			cr_expect_eq(r->query->n_instances, 600);
			break;
		}
		refused += got == -1;
		closed += got == -2;
		cr_assert(got < 0, "allocation %zu failed, yet a whole answer came", k);
	}
	cr_expect_geq(refused + closed, 2, "the arena's blocks and the reply buffer");
	cr_expect_eq(store_revision(F.store), rev);
}

static void ask_a_registration(void)
{
	struct reg a = reg_of("web", "new.example.net", 8080);
	reg_address(&a, "192.0.2.9");
	a.nmeta = 2;
	ask_register(&a, 14);
}

Test(api_ops, a_registration_without_memory_is_refused_and_not_applied)
{
	must_register(&(struct reg){"web", "tcp", "w1.example.net", 80});
	uint64_t rev = store_revision(F.store);
	const struct store_key key = {"web", "tcp", "new.example.net", 8080};
	int refused = 0;
	for (size_t k = 1;; k++) {
		cr_assert_lt(k, 200);
		int got = outcome_under_failure(k, ask_a_registration);
		if (!allocfail_struck()) {
			ok_reply(ROSTER__V1__RESPONSE__RESULT_REGISTER);
			cr_expect_eq(store_revision(F.store), rev + 1);
			break;
		}
		if (got == -1) {
			refused++;
			cr_expect_eq(F.res.flags & API_OPS_WRITE, 0);
		}
		if (got < 0 && store_instance_find(F.store, &key) == NULL) {
			cr_assert_eq(store_revision(F.store), rev, "allocation %zu", k);
			continue;
		}
		/* Applied, but its answer could not be built: the connection
		 * closes (the client retries, and an identical registration
		 * changes nothing), or the journal alone fell behind. */
		cr_assert(got == -2 || got == 0, "allocation %zu: applied and refused", k);
		cr_assert_eq(store_revision(F.store), rev + 1);
		break;
	}
	cr_expect_geq(refused, 1);
}

static void ask_list_now(void)
{
	ask_list(15);
}

static void ask_watch_all(void)
{
	ask_watch(16, NULL, 0);
}

/* store_service_foreach() says when it cannot allocate its sorted array
 * (it once visited nothing, silently: List answered OK with fewer services
 * and a Watch snapshot lacked them, docs/testing.md "Found on the way"):
 * under any failed allocation a List or a snapshot is whole or refused. */
Test(api_ops, list_and_watch_snapshots_without_memory_are_refused_whole)
{
	for (int v = 0; v < 40; v++) {
		char svc[16];
		snprintf(svc, sizeof(svc), "svc%d", v);
		struct reg a = reg_of(svc, "h.example.net", 80);
		must_register(&a);
	}
	int failed = 0;
	for (size_t k = 1;; k++) {
		cr_assert_lt(k, 200);
		int got = outcome_under_failure(k, ask_list_now);
		if (!allocfail_struck()) {
			cr_expect_eq(ok_reply(ROSTER__V1__RESPONSE__RESULT_LIST)->list->n_services,
					40);
			break;
		}
		if (got == 0) {
			const Response *r = ok_reply(ROSTER__V1__RESPONSE__RESULT_LIST);
			cr_assert_eq(r->list->n_services, 40, "allocation %zu: a short list", k);
			continue;
		}
		failed++;
	}
	cr_expect_geq(failed, 1);
	failed = 0;
	for (size_t k = 1;; k++) {
		cr_assert_lt(k, 200);
		F.nwatches = 0;
		F.strikes = 0;
		api_ops_out_deinit(&F.out);
		allocfail_arm(k);
		ask_watch_all();
		allocfail_disarm();
		if (!allocfail_struck()) {
			cr_expect_eq(F.res.flags, API_OPS_WATCH_START);
			cr_expect_eq(F.nreplies, 42, "begin, 40 instances, end");
			break;
		}
		cr_assert_eq(F.res.flags & API_OPS_MALFORMED, 0, "allocation %zu", k);
		if (F.nreplies == 1 && F.replies[0]->error == ROSTER__V1__ERROR_CODE__UNAVAILABLE) {
			cr_assert_eq(F.res.flags, 0, "allocation %zu: flags %x", k, F.res.flags);
			failed++; /* refused before it ran: the unpack's allocation */
			continue;
		}
		cr_assert_not(F.res.flags & API_OPS_WATCH_START,
				"allocation %zu: a stream started on a short snapshot (%d replies)",
				k, F.nreplies);
		/* A snapshot that cannot be sent whole must not start a stream
		 * with a gap: the connection closes. */
		cr_assert(F.res.flags & API_OPS_CLOSE, "allocation %zu: flags %x", k, F.res.flags);
		failed++;
	}
	cr_expect_geq(failed, 1);
}

/* protobuf-c's unpack returns NULL both for bytes that are not a Request
 * and for an allocation that failed. The second is the server's trouble,
 * not the client's: UNAVAILABLE with the request's own id (so that its
 * client retries that request), nothing run, no strike, and the same
 * request sent again is applied. (It was once answered MALFORMED with id 0
 * and counted as a strike: three of them closed a healthy connection.) */
Test(api_ops, a_request_that_cannot_be_unpacked_for_memory_is_unavailable_not_malformed)
{
	struct reg a = reg_of("web", "new.example.net", 8080);
	reg_address(&a, "192.0.2.9");
	reg_address(&a, "2001:db8::9");
	a.nmeta = 3;
	const struct store_key key = {"web", "tcp", "new.example.net", 8080};
	uint64_t rev = store_revision(F.store);
	size_t unpack_failures = 0;
	for (size_t k = 1;; k++) {
		cr_assert_lt(k, 200);
		api_ops_out_deinit(&F.out);
		uint64_t malformed = F.counters.malformed;
		allocfail_arm(k);
		ask_register(&a, 4242);
		allocfail_disarm();
		if (!allocfail_struck()) {
			break;
		}
		cr_assert_eq(F.counters.malformed, malformed, "allocation %zu counted malformed",
				k);
		cr_assert_eq(F.strikes, 0, "allocation %zu: a strike", k);
		if (F.nreplies != 1 || strstr(F.replies[0]->message, "unpacking") == NULL) {
			/* A later allocation (the store, the reply): other tests. */
			if (store_instance_find(F.store, &key) != NULL) {
				break;
			}
			continue;
		}
		unpack_failures++;
		cr_assert_eq(F.replies[0]->error, ROSTER__V1__ERROR_CODE__UNAVAILABLE,
				"allocation %zu: error %d: %s", k, F.replies[0]->error,
				F.replies[0]->message);
		cr_assert_eq(F.replies[0]->id, 4242, "the request's own id, so it is retried");
		cr_assert_eq(F.res.flags, 0, "allocation %zu: flags %x", k, F.res.flags);
		cr_assert_eq(store_revision(F.store), rev, "nothing was run");
		cr_assert_null(store_instance_find(F.store, &key));
		/* Sent again with memory back: applied, nothing was lost. */
		ask_register(&a, 4243);
		const Response *r = ok_reply(ROSTER__V1__RESPONSE__RESULT_REGISTER);
		cr_assert_eq(r->id, 4243);
		cr_assert_not_null(store_instance_find(F.store, &key));
		cr_assert_eq(store_revision(F.store), rev + 1);
		/* Undo, for the next k. */
		ask_deregister_instance("web", "new.example.net", 8080);
		cr_assert_null(store_instance_find(F.store, &key));
		rev = store_revision(F.store);
	}
	cr_expect_geq(unpack_failures, 3, "the envelope, the instance, its strings and lists");
	/* Three in a row on one connection: never closed for it. */
	for (int round = 0; round < 3; round++) {
		api_ops_out_deinit(&F.out);
		allocfail_arm(1);
		ask_register(&a, 77);
		allocfail_disarm();
		cr_assert(allocfail_struck());
		cr_assert_eq(reply()->error, ROSTER__V1__ERROR_CODE__UNAVAILABLE);
		cr_assert_eq(F.res.flags & API_OPS_CLOSE, 0);
	}
	cr_expect_eq(F.strikes, 0);
}

/* The id of a frame that could not be unpacked, read off its wire form. */
Test(api_ops, the_id_is_read_off_the_wire_of_any_frame)
{
	static const struct {
		uint8_t bytes[24];
		size_t len;
		uint64_t id;
	} cases[] = {
			{{0x08, 0x2a}, 2, 42},                               /* id alone */
			{{0x08, 0x01, 0x08, 0x02}, 4, 2},                    /* the last wins */
			{{0x7a, 0x02, 0x08, 0x09, 0x08, 0x05}, 6, 5},        /* after a message */
			{{0x11, 1, 2, 3, 4, 5, 6, 7, 8, 0x08, 0x07}, 11, 7}, /* after a fixed64 */
			{{0x15, 1, 2, 3, 4, 0x08, 0x03}, 7, 3},              /* after a fixed32 */
			{{0x08, 0x80, 0x01}, 3, 128},                        /* two-byte varint */
			{{0x08}, 1, 0},                                      /* cut inside */
			{{0x08, 0x80}, 2, 0},                                /* cut varint */
			{{0x7a, 0x05, 0x08}, 3, 0}, /* length past the end */
			{{0x7a}, 1, 0},             /* no length */
			{{0x0b, 0x08, 0x01}, 3, 0}, /* a group: unknown */
			{{0x80}, 1, 0},             /* key cut */
			{{0}, 0, 0},                /* empty */
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		cr_expect_eq(api_convert_request_id(cases[k].bytes, cases[k].len), cases[k].id,
				"case %zu", k);
	}
}

/* ---- Backup ----------------------------------------------------------------- */

static int backup_cb(const char *path, void *ud)
{
	cr_assert_eq(ud, &F);
	snprintf(F.backup_path, sizeof(F.backup_path), "%s", path);
	return F.backup_rc;
}

static void ask_backup(uint64_t id, const char *path)
{
	Roster__V1__BackupRequest b = ROSTER__V1__BACKUP_REQUEST__INIT;
	b.path = (char *)path;
	ASK(id, BACKUP, backup, &b);
}

/* Backup is answered later (deferred) when it starts; refused at once,
 * naming why, when it cannot: not available in this process, a relative
 * path, one already running, or a start that failed. Its later answer is
 * the result or the error with the request's id. */
Test(api_ops, backup_starts_deferred_or_is_refused_naming_why)
{
	ask_backup(60, "/var/backups/r.mdb");
	expect_error(60, ROSTER__V1__ERROR_CODE__UNSUPPORTED, "not available");
	F.backup = backup_cb;
	ask_backup(61, "r.mdb");
	expect_error(61, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT, "must be absolute");
	ask_backup(62, NULL);
	expect_error(62, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT, "not ''");
	cr_expect_eq(F.backup_path[0], '\0', "refused before the callback");
	F.backup_rc = RS_EBUSY;
	ask_backup(63, "/var/backups/r.mdb");
	expect_error(63, ROSTER__V1__ERROR_CODE__UNAVAILABLE, "another backup is running");
	F.backup_rc = RS_EIO;
	ask_backup(64, "/var/backups/r.mdb");
	expect_error(64, ROSTER__V1__ERROR_CODE__STORAGE_ERROR, "cannot start");
	F.backup_rc = 0;
	ask_backup(65, "/var/backups/r.mdb");
	cr_expect_eq(F.nreplies, 0, "answered when it ends");
	cr_expect(F.res.flags & API_OPS_DEFERRED);
	cr_expect_eq(F.res.id, 65);
	cr_expect_str_eq(F.backup_path, "/var/backups/r.mdb");
	cr_assert_eq(api_ops_backup_append(&F.out, 65, 0, 4096, 12, ""), 0);
	replies_parse();
	const Response *r = ok_reply(ROSTER__V1__RESPONSE__RESULT_BACKUP);
	cr_expect_eq(r->id, 65);
	cr_expect_eq(r->backup->bytes, 4096);
	cr_expect_eq(r->backup->duration_ms, 12);
	cr_assert_eq(api_ops_backup_append(&F.out, 66, RS_ENOSPC, 0, 3, "backup /x: disk full"), 0);
	replies_parse();
	cr_expect_eq(reply()->id, 66);
	cr_expect_eq(reply()->error, ROSTER__V1__ERROR_CODE__STORAGE_FULL);
	cr_expect_str_eq(reply()->message, "backup /x: disk full");
}

/* ---- bytes the conversion must look at itself ---------------------------------- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static size_t put_bytes(uint8_t *p, unsigned field, const void *b, size_t len)
{
	size_t n = put_varint(p, (uint64_t)field << 3 | 2);
	n += put_varint(p + n, len);
	memcpy(p + n, b, len);
	return n + len;
}

/* A Query carrying fields this server does not know (a newer client's), of
 * every wire type: still unpacked and answered, and a NUL byte in one of
 * its strings is still found, past the unknown ones. */
static size_t query_with_unknown_fields(uint8_t *out, const char *service, size_t slen)
{
	uint8_t q[128];
	size_t ql = 0;
	ql += put_varint(q + ql, 99 << 3 | 1); /* fixed64 */
	memset(q + ql, 0xab, 8);
	ql += 8;
	ql += put_varint(q + ql, 98 << 3 | 5); /* fixed32 */
	memset(q + ql, 0xcd, 4);
	ql += 4;
	ql += put_varint(q + ql, 97 << 3 | 0); /* varint */
	ql += put_varint(q + ql, 300);
	ql += put_bytes(q + ql, 96, "\0opaque", 7); /* unknown bytes may hold a NUL */
	ql += put_bytes(q + ql, 1, service, slen);
	ql += put_bytes(q + ql, 2, "tcp", 3);
	size_t n = 0;
	n += put_varint(out + n, 1 << 3 | 0);
	n += put_varint(out + n, 77);
	n += put_bytes(out + n, 15, q, ql);
	return n;
}

Test(api_ops, unknown_fields_of_every_wire_type_are_skipped_and_a_nul_still_found)
{
	uint8_t frame[256];
	size_t n = query_with_unknown_fields(frame, "web", 3);
	ask_bytes(frame, n);
	cr_expect_eq(reply()->id, 77);
	ok_reply(ROSTER__V1__RESPONSE__RESULT_QUERY);
	n = query_with_unknown_fields(frame, "we\0b", 4);
	ask_bytes(frame, n);
	expect_error(77, ROSTER__V1__ERROR_CODE__INVALID_NAME, "a NUL byte in query.service");
	cr_expect_eq(F.strikes, 0, "refused, not a malformed frame");
}

/* Metadata keys and values against the grammar, each refused by name. */
Test(api_ops, metadata_outside_the_grammar_is_refused_naming_it)
{
	static char long_key[300];
	memset(long_key, 'k', 256);
	struct {
		const char *key, *value, *want;
	} cases[] = {
			{"", "v", "metadata key of 0 bytes"},
			{long_key, "v", "metadata key of 256 bytes"},
			{"a=b", "v", "byte 0x3d at 1"},
			{"a b", "v", "byte 0x20 at 1"},
			{"k", "v\x7f", "control byte 0x7f"},
			{"k", "v\x01", "control byte 0x01"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		Roster__V1__Instance in = ROSTER__V1__INSTANCE__INIT;
		in.service = "web";
		in.protocol = "tcp";
		in.host = "w1.example.net";
		in.port = 80;
		Roster__V1__Instance__MetadataEntry e = ROSTER__V1__INSTANCE__METADATA_ENTRY__INIT;
		Roster__V1__Instance__MetadataEntry *pe = &e;
		e.key = (char *)cases[c].key;
		e.value = (char *)cases[c].value;
		in.metadata = &pe;
		in.n_metadata = 1;
		Roster__V1__RegisterRequest rr = ROSTER__V1__REGISTER_REQUEST__INIT;
		rr.instance = &in;
		ASK(9, REGISTER, register_, &rr);
		expect_error(9, ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT, cases[c].want);
	}
	ask_query("web", "tcp", true);
	cr_expect_eq(ok_reply(ROSTER__V1__RESPONSE__RESULT_QUERY)->query->n_instances, 0);
}

/* ---- replies that cannot be built ------------------------------------------- */

/* Each operation's reply, built under every allocation failing in turn
 * (the reply's buffer is allocated anew each time): the whole reply, an
 * UNAVAILABLE refusal, or no reply at all and the connection closed (its
 * client would wait forever for a reply that never comes), never a part.
 * Each operation meets at least one failure that closes: its reply's. */
static uint64_t g_lease;

static void prepare_lease(void)
{
	g_lease = open_lease(10);
	must_register(&(struct reg){"web", "tcp", "w1.example.net", 80, .lease = g_lease});
	F.out.len = 0;
}

static void ask_open_lease_now(void)
{
	Roster__V1__OpenLeaseRequest ol = ROSTER__V1__OPEN_LEASE_REQUEST__INIT;
	ol.ttl_seconds = 10;
	ASK(21, OPEN_LEASE, open_lease, &ol);
}

static void ask_heartbeat_now(void)
{
	Roster__V1__HeartbeatRequest hb = ROSTER__V1__HEARTBEAT_REQUEST__INIT;
	hb.lease = g_lease;
	ASK(22, HEARTBEAT, heartbeat, &hb);
}

static void ask_heartbeat_unknown(void)
{
	Roster__V1__HeartbeatRequest hb = ROSTER__V1__HEARTBEAT_REQUEST__INIT;
	hb.lease = 0x5eed;
	ASK(23, HEARTBEAT, heartbeat, &hb);
}

static void ask_set_status_now(void)
{
	Roster__V1__InstanceId k = ROSTER__V1__INSTANCE_ID__INIT;
	k.service = "web";
	k.protocol = "tcp";
	k.host = "w1.example.net";
	k.port = 80;
	Roster__V1__SetStatusRequest ss = ROSTER__V1__SET_STATUS_REQUEST__INIT;
	ss.instance = &k;
	ss.lease = g_lease;
	ss.status = ROSTER__V1__STATUS__DOWN;
	ASK(24, SET_STATUS, set_status, &ss);
}

static void ask_deregister_now(void)
{
	Roster__V1__DeregisterRequest dr = ROSTER__V1__DEREGISTER_REQUEST__INIT;
	dr.target_case = ROSTER__V1__DEREGISTER_REQUEST__TARGET_LEASE;
	dr.lease = g_lease;
	ASK(25, DEREGISTER, deregister, &dr);
}

static void ask_stats_now(void)
{
	ask_stats(26);
}

static void ask_authenticate_now(void)
{
	Roster__V1__AuthenticateRequest ar = ROSTER__V1__AUTHENTICATE_REQUEST__INIT;
	ar.token = "anything";
	ASK(27, AUTHENTICATE, authenticate, &ar);
}

static void prepare_watch(void)
{
	prepare_lease();
	F.nwatches = 0;
	ask_watch(28, "web", 0);
	cr_assert_eq(F.nwatches, 1);
	F.out.len = 0;
}

static void ask_cancel_watch_now(void)
{
	Roster__V1__CancelWatchRequest cw = ROSTER__V1__CANCEL_WATCH_REQUEST__INIT;
	cw.watch_id = F.watches[0].id;
	ASK(29, CANCEL_WATCH, cancel_watch, &cw);
}

struct reply_case {
	const char *name;
	void (*prepare)(void);
	void (*ask)(void);
	int want; /* the result case of a whole reply, or -1: an error reply */
};

static const struct reply_case reply_cases[] = {
		{"OpenLease", prepare_lease, ask_open_lease_now,
				ROSTER__V1__RESPONSE__RESULT_OPEN_LEASE},
		{"Heartbeat", prepare_lease, ask_heartbeat_now,
				ROSTER__V1__RESPONSE__RESULT_HEARTBEAT},
		{"Heartbeat of an unknown lease", prepare_lease, ask_heartbeat_unknown, -1},
		{"SetStatus", prepare_lease, ask_set_status_now,
				ROSTER__V1__RESPONSE__RESULT_SET_STATUS},
		{"Deregister", prepare_lease, ask_deregister_now,
				ROSTER__V1__RESPONSE__RESULT_DEREGISTER},
		{"Stats", prepare_lease, ask_stats_now, ROSTER__V1__RESPONSE__RESULT_STATS},
		{"Authenticate (an open API)", prepare_lease, ask_authenticate_now,
				ROSTER__V1__RESPONSE__RESULT_AUTHENTICATE},
		{"CancelWatch", prepare_watch, ask_cancel_watch_now,
				ROSTER__V1__RESPONSE__RESULT_CANCEL_WATCH},
};

#define NREPLY_CASES (sizeof(reply_cases) / sizeof(reply_cases[0]))

ParameterizedTestParameters(api_ops, a_reply_that_cannot_be_built_closes_never_half_sent)
{
	static int idx[NREPLY_CASES];
	for (size_t k = 0; k < NREPLY_CASES; k++) {
		idx[k] = (int)k;
	}
	return cr_make_param_array(int, idx, NREPLY_CASES);
}

ParameterizedTest(int *i, api_ops, a_reply_that_cannot_be_built_closes_never_half_sent)
{
	const struct reply_case *c = &reply_cases[*i];
	int closed = 0;
	for (size_t k = 1;; k++) {
		cr_assert_lt(k, 100, "%s: no end", c->name);
		/* A fresh store each time: every try meets the same state. */
		store_open(NULL, NULL);
		F.nwatches = 0;
		c->prepare();
		api_ops_out_deinit(&F.out); /* the reply's buffer is allocated anew */
		F.strikes = 0;
		allocfail_arm(k);
		c->ask();
		allocfail_disarm();
		bool struck = allocfail_struck();
		cr_assert_eq(F.res.flags & API_OPS_MALFORMED, 0, "%s #%zu: a strike", c->name, k);
		if (F.res.flags & API_OPS_CLOSE) {
			cr_assert_eq(F.nreplies, 0, "%s #%zu: closed after a reply", c->name, k);
			cr_assert(struck, "%s #%zu: closed without a failure", c->name, k);
			closed++;
			continue;
		}
		const Response *r = reply();
		if (r->error == ROSTER__V1__ERROR_CODE__UNAVAILABLE) {
			cr_assert(struck, "%s #%zu", c->name, k);
			cr_expect_not_null(strstr(r->message, "memory"), "%s", r->message);
		} else if (c->want < 0) {
			cr_expect_eq(r->error, ROSTER__V1__ERROR_CODE__UNKNOWN_LEASE, "%s #%zu: %s",
					c->name, k, r->message);
		} else {
			ok_reply((Roster__V1__Response__ResultCase)c->want);
		}
		if (!struck) {
			break;
		}
	}
	cr_expect_geq(closed, 1, "%s: a reply that could not be built closed nothing", c->name);
}
