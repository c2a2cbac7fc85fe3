/*
 * tests/fuzz/fuzz_api.c - libFuzzer target: the registration API from the
 * bytes a client sends to the store operations they cause, without a
 * socket.
 *
 * The read path of server/api/api.c is static (conn_read -> frame decoder
 * -> dispatch -> protobuf-c unpack with a byte budget -> conversion -> the
 * store), so this file includes api.c itself and drives conn_read() on a
 * real connection: the API listens on 127.0.0.1 (an ephemeral port), each
 * input connects a socket, and once the TCP layer (server/net/tcp.c) has
 * handed the connection to the API, the input's bytes go to conn_read()
 * directly rather than through the socket. The rest of rosterd_core is
 * linked as usual (api.o is not pulled from the archive: every symbol it
 * defines is defined here). A real LMDB environment in a temporary
 * directory backs the Stats operation; the store itself has no persistence
 * hooks (writes are not committed).
 *
 * Input: two octets that seed the chunking of the rest, which is the byte
 * stream of one connection, cut into reads of 1..256 octets (each its own
 * heap copy of exactly that size). After every read the connection's
 * replies are checked and dropped, as if flushed. Then end of stream (the
 * client closes its socket).
 * Each input starts from a fresh store, with lease ids 1, 2, 3... (the
 * harness replaces getrandom(), which only api.c calls here) so that the
 * fuzzer can refer to the leases it opened.
 *
 * Invariants: every reply is a frame holding a valid Response; a read gets
 * at most one reply per request dispatched (plus watch events, plus one
 * error for a broken stream). A successful Watch is answered by its events
 * alone, so "at least one reply per request" does not hold and is not
 * checked. When the connection has closed, nothing of it is left in the
 * API's lists.
 *
 * Not covered: writing on the socket, the deadline, pausing a pipelining
 * client (api_max_inflight is set out of reach), api_flush() and the
 * failed-commit path.
 */
#include "server/api/api.c"

#include <arpa/inet.h>
#include <ftw.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/config.h"
#include "server/registry/persist.h"
#include "tests/fuzz/fuzz.h"

static uv_loop_t loop;
static struct server_config cfg;
static struct store *store;
static struct persist *persist;
static struct api *api;
static struct sockaddr_storage api_addr;
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
	persist_close(persist);
	nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static bool no_growth(void *owner)
{
	(void)owner;
	return false;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rs_log_set_level(RS_LOG_ERROR);
	CHECK(uv_loop_init(&loop) == 0);
	config_defaults(&cfg);
	/* Small limits: reachable from short inputs. */
	cfg.limits.max_addresses = 4;
	cfg.limits.max_metadata_entries = 4;
	cfg.limits.max_instances_per_lease = 16;
	cfg.limits.max_instances = 256;
	/* A short journal: the ring is allocated with each input's store, and a
	 * long one makes Watch replay reach its end only after many writes. */
	cfg.limits.journal_max = 32;
	CHECK(mkdtemp(tmpdir) != NULL);
	char err[256];
	if (persist_open(tmpdir, 1 << 20, 1 << 20, &persist, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_api: %s\n", err);
		abort();
	}
	atexit(cleanup);
	struct sockaddr_in *sin = (struct sockaddr_in *)&api_addr;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* port 0: the kernel picks */
	const struct api_context ctx = {
		.loop = &loop,
		.store = &store,
		.persist = persist,
		.listen = &api_addr,
		.nlisten = 1,
		.limits = {.tcp = {cfg.api_max_conns, cfg.api_max_per_source, cfg.api_idle_ms,
					   cfg.api_max_outbuf},
				.max_frame = cfg.api_max_frame,
				.max_inflight = UINT32_MAX,
				.max_addresses = cfg.limits.max_addresses,
				.max_metadata_entries = cfg.limits.max_metadata_entries},
		.site = cfg.site,
		.domain = cfg.domain,
		.zone = cfg.zone,
		.store_grow = no_growth,
	};
	CHECK(api_start(&ctx, &api, err, sizeof(err)) == 0);
	CHECK(net_tcp_address(api->tcp, 0, &api_addr) == 0);
	return 0;
}

static void store_changed_cb(const struct store_change *change, void *ud)
{
	(void)ud;
	api_on_change(api, change);
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
	api->dirty = NULL;
	c->dirty = false;
	c->dirty_next = NULL;
	return n;
}

static void conn_find(struct net_tcp_conn *tc, void *arg)
{
	*(struct conn **)arg = net_tcp_conn_data(tc);
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
	store = store_new(&cfg.limits, NULL, NULL, uv_now(&loop));
	CHECK(store != NULL);
	store_set_listener(store, store_changed_cb, NULL);

	/* A real connection, accepted and handed to the API by the TCP layer. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	CHECK(connect(fd, (const struct sockaddr *)&api_addr, sizeof(struct sockaddr_in)) == 0);
	struct conn *c = NULL;
	while (c == NULL) {
		uv_run(&loop, UV_RUN_ONCE);
		net_tcp_foreach(api->tcp, conn_find, &c);
	}

	size_t off = 0;
	while (off < size && !c->close_after_flush) {
		size_t n;
		char *chunk = (char *)fuzz_chunk(&rng, data + off, size - off, 256, &n);
		uint64_t before = api->counters.requests;
		conn_read(c, (const uint8_t *)chunk, n);
		free(chunk);
		uint64_t dispatched = api->counters.requests - before;
		size_t replies = replies_take(c);
		/* A Watch is answered by its events alone (none when nothing
		 * changed since the revision asked): at most one reply each. */
		CHECK(replies <= dispatched + 1);
		off += n;
	}
	/* End of stream: the TCP layer sees the FIN and closes the connection;
	 * its close callback releases what the API held for it. */
	close(fd);
	while (net_tcp_counters_get(api->tcp)->open > 0) {
		uv_run(&loop, UV_RUN_ONCE);
	}
	CHECK(api->dirty == NULL && api->watchers == NULL);
	store_free(store);
	store = NULL;
	return 0;
}
