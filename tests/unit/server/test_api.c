/*
 * server/api/api.c, the API's transport, on a private loop with real
 * sockets on 127.0.0.1 and a real (in-memory) store: the test plays the
 * server's part (server/server.c), sealing the replies held at each
 * iteration and flushing them with the commit's result it chooses. Two
 * watchers on one API, a failed commit under a watcher and under a large
 * batch (every write answered with its error, nothing acknowledged, the
 * watcher's stream closed, later replies kept), a backup whose client left,
 * output that cannot grow (tests/faults/allocfail.h: closed, never a gap
 * or a lost acknowledgement), held replies over --max-outbuf, pipelining
 * past --max-inflight, stop with replies held, start failures (a port in
 * use, a bad token file or audit log, memory), token reloads, and, under
 * tests/faults/sysfault.c (LD_PRELOAD, set by meson), lease ids without
 * getrandom() and a connection whose getpeername() fails.
 * Every test ends with uv_loop_close() == 0.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "allocfail.h"
#include "common/error.h"
#include "free_port.h"
#include "proto/frame.h"
#include "roster.pb-c.h"
#include "server/api/api.h"
#include "server/api/tokens.h"
#include "server/registry/store.h"

typedef Roster__V1__Request Request;
typedef Roster__V1__Response Response;

/* sha256("secret-one"): the token file's digest of the one token used. */
#define TOKEN "secret-one"
#define TOKEN_SHA "ea77193cc4e6f18656f3130e296203880c4b9b3772afc855211b82fdd46e9185"
/* SHA-256 of "secret-two": a token no test client sends. */
#define OTHER_SHA "cebdf378f2d2bd60d3e3693349e8f20f329daf11a276f849996f0a6377e2155b"

typedef void (*sysfault_set_fn)(const char *calls, const char *path, unsigned long nth, int err);
typedef unsigned long (*sysfault_struck_fn)(void);

static struct {
	uv_loop_t loop;
	uv_check_t commit;
	struct store_limits limits;
	struct store *store;
	struct api *api;
	struct api_limits lim;
	struct sockaddr_storage addr;
	bool manual;   /* the test seals and flushes itself */
	int commit_rc; /* what the automatic commit reports */
	int backups;   /* backup callback calls */
	int backup_rc;
	char backup_path[256];
	bool deny;    /* the admit hook refuses */
	char dir[64]; /* temporary files (tokens, audit log) */
	char tokens[128];
	char audit[128];
} F;

/* ---- the server's part ------------------------------------------------------ */

static void commit_cb(uv_check_t *h)
{
	(void)h;
	if (!F.manual && F.api != NULL) {
		api_seal(F.api);
		api_flush(F.api, F.commit_rc);
	}
}

static void changed_cb(const struct store_change *change, void *ud)
{
	(void)ud;
	if (F.api != NULL) {
		api_on_change(F.api, change);
	}
}

static int backup_cb(const char *path, void *ud)
{
	cr_expect_eq(ud, &F);
	F.backups++;
	snprintf(F.backup_path, sizeof(F.backup_path), "%s", path);
	return F.backup_rc;
}

static bool admit_cb(void *user, const struct sockaddr *peer)
{
	(void)peer;
	cr_expect_eq(user, &F);
	return !F.deny;
}

static void setup(void)
{
	memset(&F, 0, sizeof(F));
	cr_assert_eq(uv_loop_init(&F.loop), 0);
	uv_check_init(&F.loop, &F.commit);
	uv_check_start(&F.commit, commit_cb);
	store_limits_default(&F.limits);
	F.store = store_new(&F.limits, NULL, NULL, uv_now(&F.loop));
	cr_assert_not_null(F.store);
	store_set_listener(F.store, changed_cb, NULL);
	F.lim = (struct api_limits){
			.tcp = {100, 100, 5000, 1u << 20},
			.max_frame = 1u << 20,
			.max_inflight = 64,
			.registration = F.limits,
	};
	snprintf(F.dir, sizeof(F.dir), "/tmp/roster-api-XXXXXX");
	cr_assert_not_null(mkdtemp(F.dir));
	snprintf(F.tokens, sizeof(F.tokens), "%s/tokens", F.dir);
	snprintf(F.audit, sizeof(F.audit), "%s/audit.log", F.dir);
}

static void teardown(void)
{
	allocfail_disarm();
	api_stop(F.api);
	F.api = NULL;
	uv_close((uv_handle_t *)&F.commit, NULL);
	uv_run(&F.loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&F.loop), 0, "a handle was left open");
	store_free(F.store);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", F.dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(api, .init = setup, .fini = teardown);

static struct api_context context(uint16_t port)
{
	memset(&F.addr, 0, sizeof(F.addr));
	struct sockaddr_in *sin = (struct sockaddr_in *)&F.addr;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return (struct api_context){
			.loop = &F.loop,
			.store = F.store,
			.listen = &F.addr,
			.nlisten = 1,
			.limits = F.lim,
			.admit = admit_cb,
			.admit_user = &F,
			.backup = backup_cb,
			.backup_ud = &F,
	};
}

static void start_with(const struct api_context *ctx)
{
	char err[256] = "";
	cr_assert_eq(api_start(ctx, &F.api, err, sizeof(err)), 0, "%s", err);
	cr_assert_not_null(F.api);
}

static void start(void)
{
	struct api_context ctx = context(test_free_port());
	start_with(&ctx);
}

static const struct api_counters *counters(void)
{
	return api_counters_get(F.api);
}

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

/* Run the loop until @p cond holds, for at most 3 s. */
#define PUMP_UNTIL(cond)                                                                           \
	for (uint64_t end_ = now_ms() + 3000; !(cond) && now_ms() < end_;) {                       \
		uv_run(&F.loop, UV_RUN_NOWAIT);                                                    \
		poll(NULL, 0, 1);                                                                  \
	}

static void pump(unsigned ms)
{
	uint64_t end = now_ms() + ms;
	do {
		uv_run(&F.loop, UV_RUN_NOWAIT);
		poll(NULL, 0, 1);
	} while (now_ms() < end);
}

/* The server's part by hand: the replies held now belong to a batch whose
 * commit ended with @p rc. */
static void commit(int rc)
{
	api_seal(F.api);
	api_flush(F.api, rc);
}

static int client(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (const struct sockaddr *)&F.addr, sizeof(struct sockaddr_in)), 0);
	uint64_t accepted = counters()->accepted;
	PUMP_UNTIL(counters()->accepted > accepted);
	cr_assert_eq(counters()->accepted, accepted + 1, "the server accepted it");
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	cr_assert_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Send @p q as one frame; run the loop until the server has read it. */
static void ask(int fd, const Request *q)
{
	static uint8_t buf[1 << 16];
	size_t n = roster__v1__request__get_packed_size(q);
	cr_assert_leq(n + RS_FRAME_HEADER, sizeof(buf));
	buf[0] = (uint8_t)(n >> 24);
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	roster__v1__request__pack(q, buf + RS_FRAME_HEADER);
	uint64_t before = counters()->requests;
	send_all(fd, buf, n + RS_FRAME_HEADER);
	PUMP_UNTIL(counters()->requests > before);
}

#define ASK(fd_, id_, CASE, field, msg_)                                                           \
	do {                                                                                       \
		Request q_ = ROSTER__V1__REQUEST__INIT;                                            \
		q_.id = (id_);                                                                     \
		q_.op_case = ROSTER__V1__REQUEST__OP_##CASE;                                       \
		q_.field = (msg_);                                                                 \
		ask((fd_), &q_);                                                                   \
	} while (0)

static void ask_register(int fd, uint64_t id, const char *service, const char *host)
{
	Roster__V1__Instance in = ROSTER__V1__INSTANCE__INIT;
	in.service = (char *)service;
	in.protocol = "tcp";
	in.host = (char *)host;
	in.port = 80;
	Roster__V1__RegisterRequest rr = ROSTER__V1__REGISTER_REQUEST__INIT;
	rr.instance = &in;
	ASK(fd, id, REGISTER, register_, &rr);
}

static void ask_watch(int fd, uint64_t id, const char *service)
{
	Roster__V1__WatchRequest w = ROSTER__V1__WATCH_REQUEST__INIT;
	w.service = (char *)service;
	ASK(fd, id, WATCH, watch, &w);
}

static void ask_cancel(int fd, uint64_t id, uint64_t watch_id)
{
	Roster__V1__CancelWatchRequest cw = ROSTER__V1__CANCEL_WATCH_REQUEST__INIT;
	cw.watch_id = watch_id;
	ASK(fd, id, CANCEL_WATCH, cancel_watch, &cw);
}

static void ask_query(int fd, uint64_t id, const char *service)
{
	Roster__V1__QueryRequest qr = ROSTER__V1__QUERY_REQUEST__INIT;
	qr.service = (char *)service;
	qr.protocol = "tcp";
	ASK(fd, id, QUERY, query, &qr);
}

static void ask_backup(int fd, uint64_t id, const char *path)
{
	Roster__V1__BackupRequest b = ROSTER__V1__BACKUP_REQUEST__INIT;
	b.path = (char *)path;
	ASK(fd, id, BACKUP, backup, &b);
}

static void ask_open_lease(int fd, uint64_t id)
{
	Roster__V1__OpenLeaseRequest ol = ROSTER__V1__OPEN_LEASE_REQUEST__INIT;
	ol.ttl_seconds = 30;
	ASK(fd, id, OPEN_LEASE, open_lease, &ol);
}

static void ask_authenticate(int fd, uint64_t id, const char *token)
{
	Roster__V1__AuthenticateRequest ar = ROSTER__V1__AUTHENTICATE_REQUEST__INIT;
	ar.token = (char *)token;
	ASK(fd, id, AUTHENTICATE, authenticate, &ar);
}

/* Read exactly @p n bytes, running the loop; false on EOF, reset or after 3 s. */
static bool read_exact(int fd, uint8_t *p, size_t n)
{
	size_t have = 0;
	uint64_t end = now_ms() + 3000;
	while (have < n && now_ms() < end) {
		ssize_t got = recv(fd, p + have, n - have, MSG_DONTWAIT);
		if (got == 0 || (got < 0 && errno != EAGAIN)) {
			return false;
		}
		if (got > 0) {
			have += (size_t)got;
			continue;
		}
		uv_run(&F.loop, UV_RUN_NOWAIT);
		struct pollfd pf = {fd, POLLIN, 0};
		(void)poll(&pf, 1, 1);
	}
	return have == n;
}

/* The next Response on @p fd, or NULL at EOF (or after 3 s). Free it with
 * roster__v1__response__free_unpacked(). */
static Response *hear(int fd)
{
	uint8_t h[RS_FRAME_HEADER];
	if (!read_exact(fd, h, sizeof(h))) {
		return NULL;
	}
	size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
	uint8_t *body = malloc(len > 0 ? len : 1);
	cr_assert_not_null(body);
	cr_assert(read_exact(fd, body, len), "a frame cut short");
	Response *r = roster__v1__response__unpack(NULL, len, body);
	free(body);
	cr_assert_not_null(r, "a reply that is not a Response");
	return r;
}

/* The next Response must be @p id with @p code; @return its result case. */
static int hear_reply(int fd, uint64_t id, Roster__V1__ErrorCode code, const char *needle)
{
	Response *r = hear(fd);
	cr_assert_not_null(r, "no reply for %llu", (unsigned long long)id);
	cr_expect_eq(r->id, id, "reply %llu, want %llu", (unsigned long long)r->id,
			(unsigned long long)id);
	cr_expect_eq(r->error, code, "reply %llu: error %d (%s), want %d",
			(unsigned long long)r->id, r->error, r->message, code);
	if (needle != NULL) {
		cr_expect_not_null(
				strstr(r->message, needle), "'%s' lacks '%s'", r->message, needle);
	}
	int rc = r->result_case;
	roster__v1__response__free_unpacked(r, NULL);
	return rc;
}

/* A host as the store gives it back (absolute) is the one registered. */
static bool same_host(const char *got, const char *want)
{
	size_t n = strlen(want);
	return strncmp(got, want, n) == 0 && (got[n] == '\0' || strcmp(got + n, ".") == 0);
}

/* The next frame must be a watch event of watch @p id of @p kind. */
static void hear_event(int fd, uint64_t id, Roster__V1__WatchEvent__Kind kind, const char *host)
{
	Response *r = hear(fd);
	cr_assert_not_null(r, "no event for watch %llu", (unsigned long long)id);
	cr_expect_eq(r->id, id, "event of watch %llu, want %llu", (unsigned long long)r->id,
			(unsigned long long)id);
	cr_assert_eq(r->result_case, ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT);
	cr_expect_eq(r->watch_event->kind, kind);
	if (host != NULL) {
		cr_assert_not_null(r->watch_event->instance);
		cr_expect(same_host(r->watch_event->instance->host, host), "%s, want %s",
				r->watch_event->instance->host, host);
	}
	roster__v1__response__free_unpacked(r, NULL);
}

/* Nothing is readable on @p fd within @p ms (the loop running). */
static bool silent(int fd, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	while (now_ms() < end) {
		uv_run(&F.loop, UV_RUN_NOWAIT);
		struct pollfd pf = {fd, POLLIN, 0};
		if (poll(&pf, 1, 1) > 0) {
			return false;
		}
	}
	return true;
}

/* The server closed @p fd (after whatever frames it still had). */
static bool closed_by_server(int fd)
{
	uint64_t end = now_ms() + 3000;
	uint8_t b[4096];
	while (now_ms() < end) {
		ssize_t got = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (got == 0 || (got < 0 && errno != EAGAIN)) {
			return true;
		}
		uv_run(&F.loop, UV_RUN_NOWAIT);
		struct pollfd pf = {fd, POLLIN, 0};
		(void)poll(&pf, 1, 1);
	}
	return false;
}

static void empty_snapshot(int fd, uint64_t id)
{
	hear_event(fd, id, ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_BEGIN, NULL);
	hear_event(fd, id, ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_END, NULL);
}

/* ---- watchers ------------------------------------------------------------------- */

Test(api, two_watchers_each_get_what_they_follow_and_either_may_leave)
{
	start();
	int w1 = client(), w2 = client(), r = client();
	ask_watch(w1, 10, "");
	empty_snapshot(w1, 10);
	ask_watch(w2, 11, "web");
	empty_snapshot(w2, 11);
	ask_watch(w2, 12, "db");
	empty_snapshot(w2, 12);

	ask_register(r, 1, "web", "w1.example.net");
	hear_reply(r, 1, ROSTER__V1__ERROR_CODE__OK, NULL);
	hear_event(w1, 10, ROSTER__V1__WATCH_EVENT__KIND__UPSERT, "w1.example.net");
	hear_event(w2, 11, ROSTER__V1__WATCH_EVENT__KIND__UPSERT, "w1.example.net");
	ask_register(r, 2, "db", "d1.example.net");
	hear_reply(r, 2, ROSTER__V1__ERROR_CODE__OK, NULL);
	hear_event(w1, 10, ROSTER__V1__WATCH_EVENT__KIND__UPSERT, "d1.example.net");
	hear_event(w2, 12, ROSTER__V1__WATCH_EVENT__KIND__UPSERT, "d1.example.net");
	cr_expect(silent(w2, 20), "one event per matching watch");

	/* A cancelled watch hears nothing more; the other one still does. */
	ask_cancel(w2, 13, 12);
	hear_reply(w2, 13, ROSTER__V1__ERROR_CODE__OK, NULL);
	ask_register(r, 3, "db", "d2.example.net");
	hear_reply(r, 3, ROSTER__V1__ERROR_CODE__OK, NULL);
	hear_event(w1, 10, ROSTER__V1__WATCH_EVENT__KIND__UPSERT, "d2.example.net");
	cr_expect(silent(w2, 20));

	/* The first watcher leaves (it is not the head of the list); the
	 * second goes on hearing. */
	close(w1);
	PUMP_UNTIL(counters()->connections == 2);
	cr_assert_eq(counters()->connections, 2);
	ask_register(r, 4, "web", "w2.example.net");
	hear_reply(r, 4, ROSTER__V1__ERROR_CODE__OK, NULL);
	hear_event(w2, 11, ROSTER__V1__WATCH_EVENT__KIND__UPSERT, "w2.example.net");

	/* Its last watch cancelled, the connection is an ordinary one again. */
	ask_cancel(w2, 14, 11);
	hear_reply(w2, 14, ROSTER__V1__ERROR_CODE__OK, NULL);
	ask_register(r, 5, "web", "w3.example.net");
	hear_reply(r, 5, ROSTER__V1__ERROR_CODE__OK, NULL);
	cr_expect(silent(w2, 20));
	cr_expect_eq(counters()->watch_events, 4 + 4 + 1 + 1 + 1 + 1);
	close(w2);
	close(r);
}

Test(api, a_watcher_that_leaves_first_does_not_disturb_the_one_before_it)
{
	start();
	int w1 = client(), w2 = client(), w3 = client(), r = client();
	ask_watch(w1, 1, "");
	empty_snapshot(w1, 1);
	ask_watch(w2, 2, "");
	empty_snapshot(w2, 2);
	ask_watch(w3, 3, "");
	empty_snapshot(w3, 3);
	/* The newest (the head) and then the middle one leave. */
	close(w3);
	PUMP_UNTIL(counters()->connections == 3);
	close(w2);
	PUMP_UNTIL(counters()->connections == 2);
	ask_register(r, 9, "web", "w1.example.net");
	hear_reply(r, 9, ROSTER__V1__ERROR_CODE__OK, NULL);
	hear_event(w1, 1, ROSTER__V1__WATCH_EVENT__KIND__UPSERT, "w1.example.net");
	close(w1);
	close(r);
}

/* ---- failed commits ---------------------------------------------------------------- */

static void failed_commit_under_a_watcher(int rc, Roster__V1__ErrorCode want)
{
	F.manual = true;
	start();
	int w = client(), r = client();
	ask_watch(w, 10, "");
	commit(0);
	empty_snapshot(w, 10);

	/* The first batch: one write, sealed as the writer takes it. */
	ask_register(r, 21, "web", "w1.example.net");
	api_seal(F.api);
	/* The next batch collects meanwhile: a write and a read. */
	ask_register(r, 22, "web", "w2.example.net");
	ask_query(r, 23, "web");
	uint64_t errors = counters()->errors;
	api_flush(F.api, rc);

	hear_reply(r, 21, want, "store commit failed");
	cr_expect_eq(counters()->errors, errors + 1);
	/* The watcher may see the lost batch's event, then its stream ends:
	 * it never goes on after it. */
	Response *e = hear(w);
	if (e != NULL) {
		cr_expect_eq(e->id, 10);
		roster__v1__response__free_unpacked(e, NULL);
	}
	cr_expect(closed_by_server(w), "the watcher resynchronises");
	/* The later replies wait for their own batch. */
	cr_expect(silent(r, 30));
	commit(0);
	hear_reply(r, 22, ROSTER__V1__ERROR_CODE__OK, NULL);
	hear_reply(r, 23, ROSTER__V1__ERROR_CODE__OK, NULL);
	ask_query(r, 24, "web");
	commit(0);
	hear_reply(r, 24, ROSTER__V1__ERROR_CODE__OK, NULL);
	close(w);
	close(r);
}

Test(api, a_failed_commit_answers_its_write_with_an_error_and_ends_the_watch)
{
	failed_commit_under_a_watcher(RS_ESTORE, ROSTER__V1__ERROR_CODE__STORAGE_ERROR);
}

Test(api, a_commit_failed_for_room_answers_storage_full)
{
	failed_commit_under_a_watcher(RS_ESTORE_FULL, ROSTER__V1__ERROR_CODE__STORAGE_FULL);
}

Test(api, a_failed_commit_of_a_large_batch_answers_every_request_once)
{
	F.manual = true;
	start();
	int r = client();
	/* Forty writes in one batch (more than the first sizes of the replies
	 * held), with reads among them: each read was answered from a state
	 * holding the writes before it. */
	for (uint64_t id = 1; id <= 40; id++) {
		char host[64];
		snprintf(host, sizeof(host), "w%llu.example.net", (unsigned long long)id);
		ask_register(r, id, "web", host);
		if (id % 10 == 0) {
			ask_query(r, 100 + id, "web");
		}
	}
	uint64_t errors = counters()->errors;
	commit(RS_ESTORE);
	for (uint64_t id = 1; id <= 40; id++) {
		hear_reply(r, id, ROSTER__V1__ERROR_CODE__STORAGE_ERROR, "store commit failed");
		if (id % 10 == 0) {
			hear_reply(r, 100 + id, ROSTER__V1__ERROR_CODE__UNAVAILABLE, "ask again");
		}
	}
	cr_expect_eq(counters()->errors, errors + 44);
	/* The connection goes on. */
	ask_register(r, 42, "web", "w42.example.net");
	commit(0);
	hear_reply(r, 42, ROSTER__V1__ERROR_CODE__OK, NULL);
	close(r);
}

Test(api, a_backup_that_ended_in_a_failed_batch_is_still_answered)
{
	F.manual = true;
	start();
	int r = client();
	ask_backup(r, 7, "/tmp/roster-api-test-backup.mdb");
	ask_register(r, 8, "web", "w1.example.net");
	api_backup_done(F.api, 0, 4096, 2, NULL);
	ask_query(r, 9, "web");
	api_seal(F.api);
	ask_query(r, 10, "web");
	api_backup_done(F.api, 0, 1, 1, NULL); /* none running any more */
	api_flush(F.api, RS_ESTORE_FULL);
	hear_reply(r, 8, ROSTER__V1__ERROR_CODE__STORAGE_FULL, "store commit failed");
	cr_expect_eq(hear_reply(r, 7, ROSTER__V1__ERROR_CODE__OK, NULL),
			ROSTER__V1__RESPONSE__RESULT_BACKUP);
	hear_reply(r, 9, ROSTER__V1__ERROR_CODE__UNAVAILABLE, "ask again");
	cr_expect(silent(r, 20));
	commit(0);
	hear_reply(r, 10, ROSTER__V1__ERROR_CODE__OK, NULL);
	close(r);
}

Test(api, a_failed_commit_without_memory_for_its_errors_closes_and_acknowledges_nothing)
{
	F.manual = true;
	start();
	for (size_t k = 1;; k++) {
		int r = client();
		ask_register(r, 1, "web", "w1.example.net");
		api_seal(F.api);
		ask_register(r, 2, "web", "w2.example.net");
		allocfail_arm(k);
		api_flush(F.api, RS_ESTORE);
		bool struck = allocfail_struck();
		allocfail_disarm();
		commit(0);
		/* Write 1 failed: answered STORAGE_ERROR, or never answered and
		 * the connection closed; never OK. Write 2 committed: OK, or
		 * closed. */
		bool got[3] = {false, false, false};
		Response *a;
		while (!(got[1] && got[2]) && (a = hear(r)) != NULL) {
			cr_assert(a->id == 1 || a->id == 2, "k=%zu", k);
			got[a->id] = true;
			cr_expect_eq(a->error,
					a->id == 1 ? ROSTER__V1__ERROR_CODE__STORAGE_ERROR
						   : ROSTER__V1__ERROR_CODE__OK,
					"k=%zu: reply %llu", k, (unsigned long long)a->id);
			roster__v1__response__free_unpacked(a, NULL);
		}
		if (!(got[1] && got[2])) {
			cr_expect(struck, "k=%zu: a reply missing without a failure", k);
			cr_expect(closed_by_server(r), "k=%zu: a reply missing, not closed", k);
		}
		close(r);
		PUMP_UNTIL(counters()->connections == 0);
		if (!struck) {
			cr_expect_gt(k, 1, "the errors need memory");
			break;
		}
	}
}

/* ---- output that cannot grow ------------------------------------------------------- */

Test(api, a_write_under_a_watcher_without_memory_is_whole_or_closed)
{
	start();
	int w = client();
	ask_watch(w, 10, "web");
	empty_snapshot(w, 10);
	for (size_t k = 1;; k++) {
		int r = client();
		char host[64];
		snprintf(host, sizeof(host), "w%zu.example.net", k);
		allocfail_arm(k);
		ask_register(r, 1, "web", host);
		bool struck = allocfail_struck();
		allocfail_disarm();
		pump(5);
		Response *a = hear(r);
		bool ok = a != NULL && a->error == ROSTER__V1__ERROR_CODE__OK;
		if (a != NULL) {
			cr_expect(ok || a->error == ROSTER__V1__ERROR_CODE__UNAVAILABLE,
					"k=%zu: %s", k, a->message);
			roster__v1__response__free_unpacked(a, NULL);
		}
		if (ok) {
			/* Acknowledged: the watcher heard it, or its stream ended. */
			Response *e = hear(w);
			if (e == NULL) {
				cr_expect(struck);
				close(w);
				w = client();
				ask_watch(w, 10, "web");
				Response *s;
				while ((s = hear(w)) != NULL &&
						s->watch_event->kind !=
								ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_END) {
					roster__v1__response__free_unpacked(s, NULL);
				}
				cr_assert_not_null(s);
				roster__v1__response__free_unpacked(s, NULL);
			} else {
				cr_expect(same_host(e->watch_event->instance->host, host), "k=%zu",
						k);
				roster__v1__response__free_unpacked(e, NULL);
			}
		} else {
			cr_expect(struck, "k=%zu: refused without a failure", k);
			cr_expect(silent(w, 10), "k=%zu: an event of a refused write", k);
		}
		close(r);
		if (!struck) {
			break;
		}
	}
	close(w);
}

Test(api, a_watch_without_memory_is_refused_or_closed_never_half_started)
{
	start();
	int r = client();
	ask_register(r, 1, "web", "w1.example.net");
	hear_reply(r, 1, ROSTER__V1__ERROR_CODE__OK, NULL);
	for (size_t k = 1;; k++) {
		int w = client();
		allocfail_arm(k);
		ask_watch(w, 7, "web");
		bool struck = allocfail_struck();
		allocfail_disarm();
		Response *first = hear(w);
		bool started = first != NULL && first->error == ROSTER__V1__ERROR_CODE__OK;
		if (first != NULL) {
			cr_expect(started || first->error == ROSTER__V1__ERROR_CODE__UNAVAILABLE,
					"k=%zu", k);
			roster__v1__response__free_unpacked(first, NULL);
		}
		bool whole = false;
		if (started) {
			/* The snapshot, whole or cut by a close. */
			Response *s;
			while ((s = hear(w)) != NULL) {
				cr_assert_eq(s->result_case,
						ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT);
				whole = s->watch_event->kind ==
					ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_END;
				roster__v1__response__free_unpacked(s, NULL);
				if (whole) {
					break;
				}
			}
			cr_expect(whole || struck, "k=%zu: a snapshot cut without a failure", k);
		}
		if (whole) {
			/* Then live events, or the close when the watch could
			 * not be kept. */
			char host[64];
			snprintf(host, sizeof(host), "n%zu.example.net", k);
			ask_register(r, 2, "web", host);
			hear_reply(r, 2, ROSTER__V1__ERROR_CODE__OK, NULL);
			Response *e = hear(w);
			if (e != NULL) {
				cr_expect(same_host(e->watch_event->instance->host, host));
				roster__v1__response__free_unpacked(e, NULL);
			} else {
				cr_expect(struck, "k=%zu: closed without a failure", k);
			}
		} else if (!started) {
			cr_expect(struck, "k=%zu", k);
		}
		close(w);
		PUMP_UNTIL(counters()->connections == 1);
		if (!struck) {
			break;
		}
	}
	close(r);
}

Test(api, a_broken_stream_whose_error_cannot_be_built_is_closed)
{
	start();
	/* An empty frame is refused by the framing (no request to unpack);
	 * its error reply cannot be built: closed all the same. */
	int c = client();
	allocfail_arm_from(1);
	static const uint8_t empty[] = {0, 0, 0, 0};
	send_all(c, empty, sizeof(empty));
	PUMP_UNTIL(counters()->malformed == 1);
	allocfail_disarm();
	cr_expect_eq(counters()->malformed, 1);
	cr_expect(closed_by_server(c));
	close(c);
}

/* ---- backups ------------------------------------------------------------------------ */

Test(api, a_backup_whose_client_left_is_answered_to_nobody_and_the_next_is_answered)
{
	start();
	api_backup_done(NULL, 0, 0, 0, NULL);
	api_backup_done(F.api, 0, 1, 1, NULL); /* none running: nothing */
	int a = client();
	ask_backup(a, 31, "/tmp/roster-api-test-backup.mdb");
	cr_expect_eq(F.backups, 1);
	cr_expect_str_eq(F.backup_path, "/tmp/roster-api-test-backup.mdb");
	cr_expect(silent(a, 20), "answered when it ends, not before");
	close(a);
	PUMP_UNTIL(counters()->connections == 0);
	cr_assert_eq(counters()->connections, 0);
	uint64_t errors = counters()->errors;
	api_backup_done(F.api, 0, 4096, 3, NULL);
	pump(5);
	cr_expect_eq(counters()->errors, errors);

	int b = client();
	ask_backup(b, 32, "/tmp/roster-api-test-backup.mdb");
	api_backup_done(F.api, RS_EIO, 0, 2, "backup /tmp/x: write: I/O error");
	hear_reply(b, 32, ROSTER__V1__ERROR_CODE__STORAGE_ERROR, "I/O error");
	cr_expect_eq(counters()->errors, errors + 1);
	ask_backup(b, 33, "/tmp/roster-api-test-backup.mdb");
	api_backup_done(F.api, 0, 8192, 7, NULL);
	Response *r = hear(b);
	cr_assert_not_null(r);
	cr_expect_eq(r->id, 33);
	cr_expect_eq(r->error, ROSTER__V1__ERROR_CODE__OK);
	cr_assert_eq(r->result_case, ROSTER__V1__RESPONSE__RESULT_BACKUP);
	cr_expect_eq(r->backup->bytes, 8192);
	cr_expect_eq(r->backup->duration_ms, 7);
	roster__v1__response__free_unpacked(r, NULL);

	/* One whose answer cannot be built: the connection closes rather
	 * than leave the client waiting for ever. */
	ask_backup(b, 34, "/tmp/roster-api-test-backup.mdb");
	allocfail_arm_from(1);
	api_backup_done(F.api, 0, 1, 1, NULL);
	allocfail_disarm();
	cr_expect(closed_by_server(b));
	close(b);
	cr_expect_eq(F.backups, 3 + 1);
}

/* ---- limits ---------------------------------------------------------------------------- */

Test(api, replies_held_over_max_outbuf_close_the_connection)
{
	F.lim.tcp.max_outbuf = 1024;
	start();
	int r = client();
	for (uint64_t k = 1; k <= 30; k++) {
		char host[64];
		snprintf(host, sizeof(host), "w%llu.example.net", (unsigned long long)k);
		ask_register(r, k, "web", host);
		hear_reply(r, k, ROSTER__V1__ERROR_CODE__OK, NULL);
	}
	/* A snapshot of thirty instances is more than 1 KiB: held over the
	 * cap before the layer sees a byte of it. */
	uint64_t slow = counters()->slow_closed;
	int w = client();
	ask_watch(w, 5, "web");
	cr_expect(closed_by_server(w));
	cr_expect_eq(counters()->slow_closed, slow + 1);
	/* The others are served. */
	ask_query(r, 40, "db");
	hear_reply(r, 40, ROSTER__V1__ERROR_CODE__OK, NULL);
	close(w);
	close(r);
}

/* Frames of @p n queries (ids from @p id0) in one buffer. */
static size_t queries(uint8_t *buf, size_t cap, uint64_t id0, size_t n)
{
	size_t len = 0;
	for (uint64_t id = id0; id < id0 + n; id++) {
		Roster__V1__QueryRequest qr = ROSTER__V1__QUERY_REQUEST__INIT;
		qr.service = "web";
		qr.protocol = "tcp";
		Request q = ROSTER__V1__REQUEST__INIT;
		q.id = id;
		q.op_case = ROSTER__V1__REQUEST__OP_QUERY;
		q.query = &qr;
		size_t fl = roster__v1__request__get_packed_size(&q);
		cr_assert_leq(len + RS_FRAME_HEADER + fl, cap);
		buf[len] = 0;
		buf[len + 1] = 0;
		buf[len + 2] = (uint8_t)(fl >> 8);
		buf[len + 3] = (uint8_t)fl;
		roster__v1__request__pack(&q, buf + len + RS_FRAME_HEADER);
		len += RS_FRAME_HEADER + fl;
	}
	return len;
}

Test(api, pipelining_past_max_inflight_pauses_reading_until_the_flush)
{
	F.lim.max_inflight = 4;
	F.manual = true;
	start();
	int r = client();
	uint8_t buf[4096];
	/* Twenty queries in one write are answered in one batch (one read
	 * held them); reading then pauses. */
	send_all(r, buf, queries(buf, sizeof(buf), 1, 20));
	PUMP_UNTIL(counters()->requests == 20);
	cr_assert_eq(counters()->requests, 20);
	send_all(r, buf, queries(buf, sizeof(buf), 21, 5));
	pump(30);
	cr_expect_eq(counters()->requests, 20, "paused until the flush");
	commit(0);
	for (uint64_t id = 1; id <= 20; id++) {
		hear_reply(r, id, ROSTER__V1__ERROR_CODE__OK, NULL);
	}
	PUMP_UNTIL(counters()->requests == 25);
	cr_expect_eq(counters()->requests, 25, "resumed after the flush");
	commit(0);
	for (uint64_t id = 21; id <= 25; id++) {
		hear_reply(r, id, ROSTER__V1__ERROR_CODE__OK, NULL);
	}
	close(r);
}

/* ---- connections that leave, stop ---------------------------------------------------- */

Test(api, a_connection_that_leaves_with_replies_held_takes_only_its_own)
{
	F.manual = true;
	start();
	int a = client(), b = client(), c = client();
	ask_query(a, 1, "web");
	ask_query(b, 2, "web");
	ask_query(c, 3, "web");
	/* b is in the middle of the list of connections holding replies. */
	close(b);
	PUMP_UNTIL(counters()->connections == 2);
	cr_assert_eq(counters()->connections, 2);
	commit(0);
	hear_reply(a, 1, ROSTER__V1__ERROR_CODE__OK, NULL);
	hear_reply(c, 3, ROSTER__V1__ERROR_CODE__OK, NULL);
	/* One that ends inside a frame. */
	static const uint8_t half[] = {0, 0, 0, 9, 1};
	send_all(a, half, sizeof(half));
	pump(5);
	close(a);
	PUMP_UNTIL(counters()->connections == 1);
	cr_expect_eq(counters()->connections, 1);
	close(c);
}

Test(api, stop_sends_every_reply_held_then_closes)
{
	F.manual = true;
	start();
	int w = client(), r = client();
	ask_watch(w, 1, "");
	commit(0);
	empty_snapshot(w, 1);
	ask_register(r, 2, "web", "w1.example.net");
	api_seal(F.api);
	ask_query(r, 3, "web");
	api_stop(F.api);
	F.api = NULL;
	hear_reply(r, 2, ROSTER__V1__ERROR_CODE__OK, NULL);
	hear_reply(r, 3, ROSTER__V1__ERROR_CODE__OK, NULL);
	hear_event(w, 1, ROSTER__V1__WATCH_EVENT__KIND__UPSERT, "w1.example.net");
	uv_run(&F.loop, UV_RUN_NOWAIT);
	uint8_t b;
	cr_expect_eq(recv(r, &b, 1, 0), 0, "closed after its replies");
	cr_expect_eq(recv(w, &b, 1, 0), 0, "closed after its events");
	api_stop(NULL);
	close(w);
	close(r);
}

Test(api, limits_applied_to_open_connections)
{
	start();
	int r = client();
	ask_query(r, 1, "web");
	hear_reply(r, 1, ROSTER__V1__ERROR_CODE__OK, NULL);
	api_limits_set(NULL, &F.lim);
	struct api_limits lim = F.lim;
	lim.max_frame = 16;
	api_limits_set(F.api, &lim);
	/* A register is more than 16 bytes: refused at its length prefix. */
	Roster__V1__Instance in = ROSTER__V1__INSTANCE__INIT;
	in.service = "web";
	in.protocol = "tcp";
	in.host = "w1.example.net";
	in.port = 80;
	Roster__V1__RegisterRequest rr = ROSTER__V1__REGISTER_REQUEST__INIT;
	rr.instance = &in;
	Request q = ROSTER__V1__REQUEST__INIT;
	q.id = 2;
	q.op_case = ROSTER__V1__REQUEST__OP_REGISTER;
	q.register_ = &rr;
	uint8_t buf[256];
	size_t n = roster__v1__request__get_packed_size(&q);
	buf[0] = buf[1] = buf[2] = 0;
	buf[3] = (uint8_t)n;
	roster__v1__request__pack(&q, buf + RS_FRAME_HEADER);
	send_all(r, buf, n + RS_FRAME_HEADER);
	hear_reply(r, 0, ROSTER__V1__ERROR_CODE__FRAME_TOO_LARGE, "16-byte limit");
	cr_expect(closed_by_server(r));
	cr_expect_eq(counters()->oversized, 1);
	close(r);
}

Test(api, a_source_the_admit_hook_refuses_is_told_then_closed)
{
	start();
	F.deny = true;
	int c = client();
	hear_reply(c, 0, ROSTER__V1__ERROR_CODE__UNAVAILABLE, API_NOT_ADMITTED);
	cr_expect(closed_by_server(c));
	cr_expect_eq(counters()->rejected, 1);
	close(c);
}

/* ---- start and access ---------------------------------------------------------------- */

Test(api, a_port_in_use_refuses_the_start_naming_the_address)
{
	int taken = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(taken, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(taken, 1), 0);
	socklen_t sl = sizeof(sin);
	cr_assert_eq(getsockname(taken, (struct sockaddr *)&sin, &sl), 0);
	struct api_context ctx = context(ntohs(sin.sin_port));
	char err[256] = "";
	struct api *api = (struct api *)&F;
	cr_expect_eq(api_start(&ctx, &api, err, sizeof(err)), -EADDRINUSE);
	cr_expect_null(api);
	char want[64];
	snprintf(want, sizeof(want), "api listener 127.0.0.1:%u", ntohs(sin.sin_port));
	cr_expect_not_null(strstr(err, want), "%s", err);
	/* The second of two addresses: the first one closes by itself. */
	struct sockaddr_storage two[2];
	struct sockaddr_in *first = (struct sockaddr_in *)&two[0];
	memset(two, 0, sizeof(two));
	first->sin_family = AF_INET;
	first->sin_port = htons(test_free_port());
	first->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memcpy(&two[1], &sin, sizeof(sin));
	ctx.listen = two;
	ctx.nlisten = 2;
	cr_expect_eq(api_start(&ctx, &api, err, sizeof(err)), -EADDRINUSE);
	cr_expect_null(api);
	uv_run(&F.loop, UV_RUN_NOWAIT);
	close(taken);
}

Test(api, a_start_without_memory_fails_whole)
{
	struct api_context ctx = context(test_free_port());
	for (size_t k = 1;; k++) {
		char err[256] = "";
		allocfail_arm(k);
		int rc = api_start(&ctx, &F.api, err, sizeof(err));
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (rc == 0) {
			cr_expect_not(struck, "k=%zu: started without an allocation", k);
			break;
		}
		cr_expect_eq(rc, RS_ENOMEM, "k=%zu: %s", k, err);
		cr_expect_null(F.api);
		cr_expect_not_null(strstr(err, "out of memory"), "%s", err);
		uv_run(&F.loop, UV_RUN_NOWAIT);
	}
	int r = client();
	ask_query(r, 1, "web");
	hear_reply(r, 1, ROSTER__V1__ERROR_CODE__OK, NULL);
	close(r);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

Test(api, a_bad_token_file_or_audit_log_refuses_the_start)
{
	struct api_context ctx = context(test_free_port());
	char err[256] = "";
	write_file(F.tokens, "one sha256:nothex write:*\n");
	ctx.tokens_path = F.tokens;
	cr_expect_lt(api_start(&ctx, &F.api, err, sizeof(err)), 0);
	cr_expect_null(F.api);
	cr_expect_not_null(strstr(err, "--api-tokens"), "%s", err);
	ctx.tokens_path = NULL;
	char audit[160];
	snprintf(audit, sizeof(audit), "%s/no/such/dir/audit.log", F.dir);
	ctx.audit_path = audit;
	cr_expect_lt(api_start(&ctx, &F.api, err, sizeof(err)), 0);
	cr_expect_null(F.api);
	cr_expect_not_null(strstr(err, "--audit-log"), "%s", err);
	cr_expect_not_null(strstr(err, audit), "%s", err);
	uv_run(&F.loop, UV_RUN_NOWAIT);
}

Test(api, a_reloaded_token_file_applies_to_open_connections)
{
	write_file(F.tokens, "one sha256:" TOKEN_SHA " write:*\n");
	struct api_context ctx = context(test_free_port());
	ctx.tokens_path = F.tokens;
	ctx.audit_path = F.audit;
	start_with(&ctx);
	cr_expect_eq(counters()->tokens, 1);
	char err[256] = "";
	cr_expect_eq(api_tokens_reload(NULL, err, sizeof(err)), 0);
	int r = client();
	ask_authenticate(r, 1, TOKEN);
	hear_reply(r, 1, ROSTER__V1__ERROR_CODE__OK, NULL);
	ask_register(r, 2, "web", "w1.example.net");
	hear_reply(r, 2, ROSTER__V1__ERROR_CODE__OK, NULL);
	cr_expect_eq(counters()->audit_lines, 1);

	/* A file that does not parse: the old set stays. */
	write_file(F.tokens, "broken line\n");
	cr_expect_lt(api_tokens_reload(F.api, err, sizeof(err)), 0);
	cr_expect_not_null(strstr(err, "--api-tokens"), "%s", err);
	cr_expect_eq(counters()->tokens_reload_failures, 1);
	ask_register(r, 3, "web", "w2.example.net");
	hear_reply(r, 3, ROSTER__V1__ERROR_CODE__OK, NULL);

	/* Only read now: the connection's token is found again, narrower. */
	write_file(F.tokens, "one sha256:" TOKEN_SHA " read\n");
	cr_expect_eq(api_tokens_reload(F.api, err, sizeof(err)), 0, "%s", err);
	ask_register(r, 4, "web", "w3.example.net");
	hear_reply(r, 4, ROSTER__V1__ERROR_CODE__PERMISSION_DENIED, NULL);
	ask_query(r, 5, "web");
	hear_reply(r, 5, ROSTER__V1__ERROR_CODE__OK, NULL);
	/* A file with no token left is refused: the old set stays. */
	write_file(F.tokens, "# nobody\n");
	cr_expect_lt(api_tokens_reload(F.api, err, sizeof(err)), 0);
	cr_expect_not_null(strstr(err, "no token in the file"), "%s", err);
	cr_expect_eq(counters()->tokens, 1);
	/* Gone from the file: unauthenticated from the next request on. */
	write_file(F.tokens, "other sha256:" OTHER_SHA " read\n");
	cr_expect_eq(api_tokens_reload(F.api, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(counters()->tokens, 1);
	ask_query(r, 6, "web");
	hear_reply(r, 6, ROSTER__V1__ERROR_CODE__PERMISSION_DENIED, NULL);
	close(r);
	struct stat st;
	cr_assert_eq(stat(F.audit, &st), 0);
	cr_expect_gt(st.st_size, 0, "the audit log has its lines");
}

/* ---- failed system calls (tests/faults/sysfault.c) --------------------------------- */

static sysfault_set_fn fault_set(void)
{
	sysfault_set_fn set = (sysfault_set_fn)dlsym(RTLD_DEFAULT, "sysfault_set");
	cr_assert_not_null(set, "run under tests/faults/sysfault.c (LD_PRELOAD)");
	return set;
}

static unsigned long fault_struck(void)
{
	sysfault_struck_fn struck = (sysfault_struck_fn)dlsym(RTLD_DEFAULT, "sysfault_struck");
	cr_assert_not_null(struck);
	return struck();
}

Test(api, lease_ids_without_getrandom_are_still_distinct_and_nonzero)
{
	start();
	int r = client();
	fault_set()("getrandom", NULL, 0, ENOSYS);
	uint64_t ids[8];
	for (uint64_t k = 0; k < 8; k++) {
		ask_open_lease(r, k + 1);
		Response *a = hear(r);
		cr_assert_not_null(a);
		cr_assert_eq(a->error, ROSTER__V1__ERROR_CODE__OK, "%s", a->message);
		cr_assert_eq(a->result_case, ROSTER__V1__RESPONSE__RESULT_OPEN_LEASE);
		ids[k] = a->open_lease->lease;
		roster__v1__response__free_unpacked(a, NULL);
		cr_expect_neq(ids[k], 0);
		for (uint64_t j = 0; j < k; j++) {
			cr_expect_neq(ids[j], ids[k]);
		}
	}
	cr_expect_geq(fault_struck(), 8, "every id was made without getrandom()");
	fault_set()("", NULL, 0, EIO);
	close(r);
}

Test(api, a_connection_whose_peer_cannot_be_named_is_served)
{
	start();
	fault_set()("getpeername", NULL, 0, ENOTCONN);
	int r = client();
	cr_expect_geq(fault_struck(), 1);
	fault_set()("", NULL, 0, EIO);
	ask_register(r, 1, "web", "w1.example.net");
	hear_reply(r, 1, ROSTER__V1__ERROR_CODE__OK, NULL);
	close(r);
	PUMP_UNTIL(counters()->connections == 0);
	cr_expect_eq(counters()->connections, 0);
}

/* ---- the token file: memory and reads ------------------------------------------------ */

/* Nine tokens (past the first size of the set), upper-case hex, tabs, a
 * CRLF line, every glob character. */
static const char many_tokens[] =
		"# the operators\n"
		"t1 sha256:EA77193CC4E6F18656F3130E296203880C4B9B3772AFC855211B82FDD46E9185 "
		"write:Web-?[ab]!*,read\n"
		"t2\tsha256:0000000000000000000000000000000000000000000000000000000000000002\tadmin\r\n"
		"  # an indented comment\n"
		"t3 sha256:0000000000000000000000000000000000000000000000000000000000000003 "
		"write:a,write:b\n"
		"t4 sha256:0000000000000000000000000000000000000000000000000000000000000004 read\n"
		"t5 sha256:0000000000000000000000000000000000000000000000000000000000000005 read\n"
		"t6 sha256:0000000000000000000000000000000000000000000000000000000000000006 read\n"
		"t7 sha256:0000000000000000000000000000000000000000000000000000000000000007 read\n"
		"t8 sha256:0000000000000000000000000000000000000000000000000000000000000008 read\n"
		"t.9_x sha256:00000000000000000000000000000000000000000000000000000000000000f9 "
		"read\n";

Test(api, a_token_file_without_memory_is_refused_whole)
{
	for (size_t k = 1;; k++) {
		struct api_tokens *t = NULL;
		char err[256] = "";
		allocfail_arm(k);
		int rc = api_tokens_parse(many_tokens, strlen(many_tokens), &t, err, sizeof(err));
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (rc == 0) {
			cr_expect_not(struck, "k=%zu: parsed with a failure", k);
			cr_assert_eq(t->n, 9);
			cr_expect_str_eq(t->v[0].name, "t1");
			cr_expect_eq(t->v[0].digest[0], 0xea);
			cr_assert_eq(t->v[0].nglobs, 1);
			cr_expect_str_eq(t->v[0].globs[0], "web-?[ab]!*");
			cr_expect_eq(t->v[2].nglobs, 2);
			cr_expect_str_eq(t->v[8].name, "t.9_x");
			api_tokens_free(t);
			break;
		}
		cr_expect(struck, "k=%zu: %s", k, err);
		cr_expect_eq(rc, RS_ENOMEM, "k=%zu: %s", k, err);
		cr_expect_not_null(strstr(err, "out of memory"), "k=%zu: %s", k, err);
		cr_expect_null(t);
	}
}

Test(api, a_token_file_that_cannot_be_read_is_refused_by_name)
{
	struct api_tokens *t = NULL;
	char err[512] = "";
	/* Missing. */
	cr_expect_eq(api_tokens_load(F.tokens, &t, err, sizeof(err)), -ENOENT);
	cr_expect_not_null(strstr(err, F.tokens), "%s", err);
	/* A read that fails. */
	write_file(F.tokens, many_tokens);
	fault_set()("read", "tokens", 0, EIO);
	int rc = api_tokens_load(F.tokens, &t, err, sizeof(err));
	unsigned long struck = fault_struck();
	fault_set()("", NULL, 0, EIO);
	cr_expect_eq(rc, -EIO);
	cr_expect_geq(struck, 1);
	cr_expect_not_null(strstr(err, F.tokens), "%s", err);
	cr_expect_null(t);
	/* Its buffer without memory. */
	allocfail_arm(1);
	rc = api_tokens_load(F.tokens, &t, err, sizeof(err));
	allocfail_disarm();
	cr_expect_eq(rc, RS_ENOMEM);
	cr_expect_not_null(strstr(err, "out of memory"), "%s", err);
	/* Larger than 1 MiB. */
	FILE *f = fopen(F.tokens, "w");
	cr_assert_not_null(f);
	for (int k = 0; k < (1 << 20) / 62 + 1; k++) { /* 62 bytes each */
		fputs("# padding padding padding padding padding padding padding pad\n", f);
	}
	cr_assert_eq(fclose(f), 0);
	cr_expect_eq(api_tokens_load(F.tokens, &t, err, sizeof(err)), RS_ECONF);
	cr_expect_not_null(strstr(err, "larger than"), "%s", err);
	/* And a good one loads. */
	write_file(F.tokens, many_tokens);
	cr_assert_eq(api_tokens_load(F.tokens, &t, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(t->n, 9);
	api_tokens_free(t);
}
