/*
 * tests/fuzz/fuzz_api.c - libFuzzer target: the registration API from the
 * bytes a client sends to the store operations they cause, without a
 * socket.
 *
 * The read path of server/api/api.c is static (conn_read_cb -> frame decoder
 * -> dispatch -> protobuf-c unpack with a byte budget -> conversion -> the
 * store), so this file includes api.c itself and drives conn_read_cb()
 * with a connection whose TCP handle is initialised but never connected.
 * The rest of rosterd_core is linked as usual (api.o is not pulled from
 * the archive: every symbol it defines is defined here). A real LMDB
 * environment in a temporary directory backs the Stats operation; the
 * store itself has no persistence hooks (writes are not committed).
 *
 * Input: two octets that seed the chunking of the rest, which is the byte
 * stream of one connection, cut into reads of 1..256 octets (each its own
 * heap copy of exactly that size). After every read the connection's
 * replies are checked and dropped, as if flushed. Then end of stream.
 * Each input starts from a fresh store, with lease ids 1, 2, 3... (the
 * harness replaces getrandom(), which only api.c calls here) so that the
 * fuzzer can refer to the leases it opened.
 *
 * Invariants: every reply is a frame holding a valid Response; a read gets
 * at most one reply per request dispatched (plus watch events, plus one
 * error for a broken stream). A successful Watch is answered by its events
 * alone, so "at least one reply per request" does not hold and is not
 * checked.
 *
 * Not covered: accepting, writing and closing on a real socket, the idle
 * timer, pausing a pipelining client (api_max_inflight is set out of
 * reach), api_flush() and the failed-commit path.
 */
#include "server/api/api.c"

#include <ftw.h>
#include <unistd.h>

#include "server/config.h"
#include "server/registry/persist.h"
#include "tests/fuzz/fuzz.h"

static uv_loop_t loop;
static struct server srv;
static char tmpdir[] = "/tmp/roster-fuzz-api-XXXXXX";
static uint64_t next_random;

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
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rs_log_set_level(RS_LOG_ERROR);
	CHECK(uv_loop_init(&loop) == 0);
	config_defaults(&srv.cfg);
	srv.loop = &loop;
	srv.cfg.api.n = 0; /* no listener: api_start() binds nothing */
	srv.cfg.api_max_inflight = UINT32_MAX;
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
	atexit(cleanup);
	struct api *api;
	CHECK(api_start(&srv, &api, err, sizeof(err)) == 0);
	return 0;
}

static void store_changed_cb(const struct store_change *change, void *ud)
{
	(void)ud;
	api_on_change(srv.api, change);
}

/* Check and drop what the connection would send; returns the replies that
 * are not watch events. */
static size_t replies_take(struct conn *c)
{
	size_t n = 0;
	size_t off = 0;
	while (off < c->out_len) {
		CHECK(c->out_len - off >= RS_FRAME_HEADER);
		const uint8_t *h = c->out + off;
		size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
		CHECK(len <= c->out_len - off - RS_FRAME_HEADER);
		Response *r = roster__v1__response__unpack(NULL, len, h + RS_FRAME_HEADER);
		CHECK(r != NULL);
		if (r->result_case != ROSTER__V1__RESPONSE__RESULT_WATCH_EVENT) {
			n++;
		}
		roster__v1__response__free_unpacked(r, NULL);
		off += RS_FRAME_HEADER + len;
	}
	/* What api_flush() does for a connection, minus the write. */
	c->out_len = 0;
	c->nwrite_ids = 0;
	c->answered = 0;
	srv.api->dirty = NULL;
	c->dirty = false;
	c->dirty_next = NULL;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2) {
		return 0;
	}
	uint32_t rng = (uint32_t)data[0] << 8 | data[1];
	data += 2;
	size -= 2;
	next_random = 0;
	struct api *api = srv.api;
	srv.store = store_new(&srv.cfg.limits, NULL, NULL, uv_now(&loop));
	CHECK(srv.store != NULL);
	store_set_listener(srv.store, store_changed_cb, NULL);

	/* A connection as on_connection_cb() makes it, on a socket-less handle. */
	struct conn *c = calloc(1, sizeof(*c));
	CHECK(c != NULL);
	c->api = api;
	c->handles = 2;
	rs_frame_decoder_init(&c->dec, srv.cfg.api_max_frame);
	snprintf(c->peer, sizeof(c->peer), "fuzz");
	CHECK(uv_tcp_init(&loop, &c->tcp) == 0);
	CHECK(uv_timer_init(&loop, &c->idle) == 0);
	c->tcp.data = c;
	c->idle.data = c;
	c->next = api->conns;
	if (api->conns != NULL) {
		api->conns->prev = c;
	}
	api->conns = c;
	api->counters.connections++;

	size_t off = 0;
	while (off < size && !c->close_after_flush) {
		size_t n;
		char *chunk = (char *)fuzz_chunk(&rng, data + off, size - off, 256, &n);
		uint64_t before = api->counters.requests;
		uv_buf_t b = uv_buf_init(chunk, (unsigned)n);
		conn_read_cb((uv_stream_t *)&c->tcp, (ssize_t)n, &b);
		free(chunk);
		uint64_t dispatched = api->counters.requests - before;
		size_t replies = replies_take(c);
		/* A Watch is answered by its events alone (none when nothing
		 * changed since the revision asked): at most one reply each. */
		CHECK(replies <= dispatched + 1);
		off += n;
	}
	/* End of stream: conn_read_cb closes the connection; its handles'
	 * close callbacks free it once the loop runs. */
	uv_buf_t none = uv_buf_init(NULL, 0);
	conn_read_cb((uv_stream_t *)&c->tcp, UV_EOF, &none);
	CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
	CHECK(api->conns == NULL);
	store_free(srv.store);
	srv.store = NULL;
	return 0;
}
