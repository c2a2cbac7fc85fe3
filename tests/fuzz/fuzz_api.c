/*
 * tests/fuzz/fuzz_api.c - libFuzzer target: the registration API from the
 * bytes a client sends to the store operations they cause, without a
 * socket.
 *
 * The byte stream of one connection goes through the frame decoder
 * (proto/frame.h) as the API's read callback feeds it, and every frame
 * through api_ops_dispatch() (server/api/ops.h): protobuf-c unpack with a
 * byte budget, conversion, the store operations, Watch replays and
 * snapshots. The harness then does what the transport does with each
 * answer: it keeps the watches the operations start and cancel, counts
 * strikes, stops at a close, and sends the store's changes to its watches
 * (server/api/watch.h), into the same output buffer as the replies. Stats
 * gets its figures from server_stats_collect() on a server that has only a
 * store and a real LMDB environment in a temporary directory; the store
 * itself has no persistence hooks (writes are not committed).
 *
 * Input: two octets that seed the chunking of the rest, which is the byte
 * stream of one connection, cut into reads of 1..256 octets (each its own
 * heap copy of exactly that size). After every dispatch the replies it
 * produced are checked and dropped, as if flushed. A framing error ends the
 * stream, as the transport would close the connection. Each input starts
 * from a fresh store, with lease ids 1, 2, 3... (the harness replaces
 * getrandom(), which only server/api/ops.c calls here) so that the fuzzer
 * can refer to the leases it opened.
 *
 * Invariants, per dispatch: every reply is a frame holding a valid
 * Response; exactly one of them is not a watch event and carries the
 * request's id (0 for a malformed frame), except for a Watch that started,
 * which is answered by its events alone; a reply acknowledging a write is
 * not an error; every watch event belongs to a watch of the connection or
 * to the one just started; the third malformed frame closes; a connection
 * never holds more than API_OPS_MAX_WATCHES watches, and only a watch it
 * holds is cancelled.
 *
 * Access control: when the first octet's top bit is set the input runs
 * against a token set (api_tokens_parse(), three tokens: "read-token"
 * read, "web-token" write:web*, "admin-token" admin; the harness keeps
 * the token an Authenticate gave, as the transport does), else against an
 * open API. Invariants: a PERMISSION_DENIED answer changed nothing (the
 * store's revision and sizes are what they were); without a token, or
 * with the read token, no write is acknowledged.
 *
 * Not covered: the transport (server/api/api.c: accepting, reading,
 * writing and closing on a real socket, the idle timer, pausing a
 * pipelining client, api_flush() and the failed-commit path).
 */
#include <ftw.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <uv.h>

#include "common/arena.h"
#include "common/log.h"
#include "proto/frame.h"
#include "roster.pb-c.h"
#include "server/api/ops.h"
#include "server/api/tokens.h"
#include "server/api/watch.h"
#include "server/config.h"
#include "server/registry/persist.h"
#include "server/server.h"
#include "tests/fuzz/fuzz.h"

static uv_loop_t loop;
static struct server srv;
static char tmpdir[] = "/tmp/roster-fuzz-api-XXXXXX";
static uint64_t next_random;
static struct rs_arena scratch;
static struct api_counters counters;

/* The connection: its replies and its watches. */
static struct api_ops_out out;
static struct api_watch watches[API_OPS_MAX_WATCHES];
static size_t nwatches;
static struct api_tokens *tokens;       /* the fixture's token set */
static const struct api_tokens *active; /* tokens, or NULL for an open API */
static const struct api_token *token;   /* the connection's */

/* Deterministic "random" lease ids: 1, 2, 3... per input. */
ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
	(void)flags;
	uint64_t v = ++next_random;
	memset(buf, 0, len);
	memcpy(buf, &v, len < sizeof(v) ? len : sizeof(v));
	return (ssize_t)len;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	persist_close(srv.persist);
	nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	rs_arena_deinit(&scratch);
	api_ops_out_deinit(&out);
	api_tokens_free(tokens);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rs_log_set_level(RS_LOG_ERROR);
	CHECK(uv_loop_init(&loop) == 0);
	config_defaults(&srv.cfg);
	srv.loop = &loop;
	/* Small limits: reachable from short inputs. */
	srv.cfg.limits.max_addresses = 4;
	srv.cfg.limits.max_metadata_entries = 4;
	srv.cfg.limits.max_instances_per_lease = 16;
	srv.cfg.limits.max_instances = 256;
	/* A short journal: the ring is allocated with each input's store, and a
	 * long one makes Watch replay reach its end only after many writes. */
	srv.cfg.limits.journal_max = 32;
	CHECK(mkdtemp(tmpdir) != NULL);
	char err[256];
	if (persist_open(tmpdir, 1 << 20, 1 << 20, &srv.persist, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_api: %s\n", err);
		abort();
	}
	rs_arena_init(&scratch, 64 * 1024);
	/* sha256 of read-token, web-token, admin-token. */
	static const char file[] =
			"reader sha256:"
			"0328587016f9e316b9c31c94f944a2c453e1494a564062b5eab68039c75b58bf read\n"
			"web sha256:"
			"671391faf68e509ca4ec48ccb0690453e9b82c2fa48273703233d60b52b9640d write:web*\n"
			"ops sha256:"
			"10a4c7c9fc5206d6f36dc6944a81bb6f4a3cb0e25014ae3b12e6c3e52712292a admin\n";
	CHECK(api_tokens_parse(file, sizeof(file) - 1, &tokens, err, sizeof(err)) == 0);
	atexit(cleanup);
	return 0;
}

/* The transport's store listener: every change to every matching watch. */
static void store_changed_cb(const struct store_change *change, void *ud)
{
	(void)ud;
	struct api_watch_sink sink = {&out, &scratch, &counters.watch_events};
	for (size_t k = 0; k < nwatches; k++) {
		if (api_watch_matches(&watches[k], change->instance->service->name)) {
			CHECK(api_watch_change_append(&sink, watches[k].id, change) == 0);
		}
	}
}

static void stats_cb(struct stats_snapshot *snap, void *ud)
{
	server_stats_collect(ud, snap);
}

static bool watch_held(uint64_t id)
{
	for (size_t k = 0; k < nwatches; k++) {
		if (watches[k].id == id) {
			return true;
		}
	}
	return false;
}

/* What a refused request must have left as it was. */
struct store_view {
	uint64_t revision;
	struct store_sizes sizes;
};

static void store_view_get(struct store_view *v)
{
	v->revision = store_revision(srv.store);
	store_sizes_get(srv.store, &v->sizes);
}

/* Check and drop what one dispatch appended. */
static void replies_check(const struct api_ops_result *res, const struct store_view *before)
{
	size_t answers = 0;
	size_t off = 0;
	while (off < out.len) {
		CHECK(out.len - off >= RS_FRAME_HEADER);
		const uint8_t *h = out.data + off;
		size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
		CHECK(len <= out.len - off - RS_FRAME_HEADER);
		Roster__V1__Response *r =
				roster__v1__response__unpack(NULL, len, h + RS_FRAME_HEADER);
		CHECK(r != NULL);
		if (r->result_case == ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT) {
			bool started = (res->flags & API_OPS_WATCH_START) && r->id == res->watch.id;
			CHECK(watch_held(r->id) || started);
		} else {
			answers++;
			CHECK(r->id == res->id);
			if (r->error == ROSTER__V1__ERROR_CODE__PERMISSION_DENIED) {
				struct store_view now;
				store_view_get(&now);
				CHECK(now.revision == before->revision);
				CHECK(memcmp(&now.sizes, &before->sizes, sizeof(now.sizes)) == 0);
			}
			/* No token, or a read token: nothing written. */
			CHECK(!(res->flags & API_OPS_WRITE) || active == NULL ||
					(token != NULL && (token->scopes & ~API_SCOPE_READ)));
			CHECK(!(res->flags & API_OPS_WRITE) ||
					r->error == ROSTER__V1__ERROR_CODE__OK);
		}
		roster__v1__response__free_unpacked(r, NULL);
		off += RS_FRAME_HEADER + len;
	}
	CHECK(answers == ((res->flags & API_OPS_WATCH_START) ? 0u : 1u));
	out.len = 0;
}

/* What the transport does with an answer; false when it closes. */
static bool result_apply(const struct api_ops_result *res, unsigned *strikes)
{
	if (res->flags & API_OPS_MALFORMED) {
		++*strikes;
	}
	CHECK(*strikes < API_OPS_STRIKES || (res->flags & API_OPS_CLOSE));
	if (res->flags & API_OPS_AUTH) {
		CHECK(active != NULL || res->token == NULL);
		token = res->token;
	}
	if (res->flags & API_OPS_WATCH_START) {
		CHECK(nwatches < API_OPS_MAX_WATCHES);
		watches[nwatches++] = res->watch;
	}
	if (res->flags & API_OPS_WATCH_CANCEL) {
		size_t k = 0;
		while (k < nwatches && watches[k].id != res->cancel_id) {
			k++;
		}
		CHECK(k < nwatches);
		watches[k] = watches[--nwatches];
	}
	return !(res->flags & API_OPS_CLOSE);
}

/* Feed one read to the decoder and answer its frames; false at a close. */
static bool read_one(struct rs_frame_decoder *dec, const uint8_t *p, size_t left, unsigned *strikes)
{
	while (left > 0) {
		size_t used = 0;
		const uint8_t *frame = NULL;
		size_t flen = 0;
		int rc = rs_frame_decode(dec, p, left, &used, &frame, &flen);
		if (rc < 0) {
			return false; /* the transport answers the error and closes */
		}
		p += used;
		left -= used;
		if (rc == 1) {
			const struct api_ops_ctx ctx = {
					.store = srv.store,
					.limits = &srv.cfg.limits,
					.now_ms = uv_now(&loop),
					.wall_ms = 1764115200000ull,
					.stats = stats_cb,
					.stats_ud = &srv,
					.scratch = &scratch,
					.counters = &counters,
					.watches = watches,
					.nwatches = nwatches,
					.strikes = *strikes,
					.tokens = active,
					.token = token,
			};
			struct api_ops_result res;
			struct store_view before;
			store_view_get(&before);
			api_ops_dispatch(&ctx, frame, flen, &out, &res);
			replies_check(&res, &before);
			if (!result_apply(&res, strikes)) {
				return false;
			}
		}
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2) {
		return 0;
	}
	uint32_t rng = (uint32_t)data[0] << 8 | data[1];
	active = (data[0] & 0x80) ? tokens : NULL;
	token = NULL;
	data += 2;
	size -= 2;
	next_random = 0;
	nwatches = 0;
	srv.store = store_new(&srv.cfg.limits, NULL, NULL, uv_now(&loop));
	CHECK(srv.store != NULL);
	store_set_listener(srv.store, store_changed_cb, NULL);
	struct rs_frame_decoder dec;
	rs_frame_decoder_init(&dec, srv.cfg.api_max_frame);
	unsigned strikes = 0;
	bool open = true;
	for (size_t off = 0; off < size && open;) {
		size_t n;
		uint8_t *chunk = fuzz_chunk(&rng, data + off, size - off, 256, &n);
		open = read_one(&dec, chunk, n, &strikes);
		free(chunk);
		off += n;
	}
	rs_frame_decoder_deinit(&dec);
	store_free(srv.store);
	srv.store = NULL;
	return 0;
}
