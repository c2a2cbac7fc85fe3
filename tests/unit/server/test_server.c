/*
 * server/server.c, rosterd's composition root, on a private loop in this
 * process: open, start, serve, stop and close in main.c's order, with a
 * real store in a temporary data dir and every listener on a free port of
 * 127.0.0.1. What a start that fails must do: a port already taken for the
 * API, DNS (TCP or UDP) or HTTP, a writer thread that cannot start
 * (tests/faults/sysfault.c, LD_PRELOAD, set by meson), TSIG keys missing,
 * a data dir that cannot be used; each is one error naming the cause, and
 * the listeners that did open close again (uv_loop_close() == 0 after).
 * Then what a running server does: its counters (Stats), SIGHUP's reload of
 * limits and of a --static file (a bad file keeps the set served), ACLs in
 * dry run.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common/error.h"
#include "free_port.h"
#include "server/server.h"
#include "server/stats.h"
#include "tests/unit/common/argv_split.h"

typedef void (*sysfault_set_fn)(const char *calls, const char *path, unsigned long nth, int err);
typedef unsigned long (*sysfault_struck_fn)(void);

static struct {
	uv_loop_t loop;
	struct server srv;
	char dir[64];
	uint16_t api, dns, http;
	bool opened, started;
} F;

static void setup(void)
{
	memset(&F, 0, sizeof(F));
	cr_assert_eq(uv_loop_init(&F.loop), 0);
	snprintf(F.dir, sizeof(F.dir), "/tmp/roster-server-XXXXXX");
	cr_assert_not_null(mkdtemp(F.dir));
	F.api = test_free_port();
	do {
		F.dns = test_free_port();
	} while (F.dns == F.api);
	do {
		F.http = test_free_port();
	} while (F.http == F.api || F.http == F.dns);
}

/* main.c's order after a start, failed or not. */
static void shut(void)
{
	server_stop(&F.srv);
	uv_run(&F.loop, UV_RUN_DEFAULT);
	server_close(&F.srv);
}

static void teardown(void)
{
	sysfault_set_fn set = (sysfault_set_fn)dlsym(RTLD_DEFAULT, "sysfault_set");
	if (set != NULL) {
		set("", NULL, 0, EIO);
	}
	if (F.opened) {
		shut();
	}
	cr_expect_eq(uv_loop_close(&F.loop), 0, "a handle was left open");
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", F.dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(server, .init = setup, .fini = teardown);

/* Configure from flags (after the data dir and the three listeners). */
static void configure(const char *extra)
{
	char full[512], buf[512];
	char *argv[ARGV_SPLIT_MAX + 1];
	int n = snprintf(full, sizeof(full),
			"rosterd --data %s --api 127.0.0.1:%u --dns 127.0.0.1:%u --http 127.0.0.1:%u "
			"--site test --domain example.org %s",
			F.dir, F.api, F.dns, F.http, extra);
	cr_assert(n > 0 && (size_t)n < sizeof(full), "flags too long");
	int argc = argv_split(full, buf, argv);
	config_defaults(&F.srv.cfg);
	char err[512];
	cr_assert_eq(config_parse(&F.srv.cfg, argc, argv, err, sizeof(err)), 0, "%s", err);
	F.srv.loop = &F.loop;
	uv_update_time(&F.loop);
}

static int open_server(char *err, size_t errsz)
{
	int rc = server_open(&F.srv, err, errsz);
	F.opened = true; /* server_close() is due either way (main.c) */
	return rc;
}

static void start_server(void)
{
	char err[1024] = "";
	cr_assert_eq(open_server(err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(server_start(&F.srv, err, sizeof(err)), 0, "%s", err);
}

static void pump(unsigned ms)
{
	uint64_t end = uv_hrtime() / 1000000u + ms;
	while (uv_hrtime() / 1000000u < end) {
		uv_run(&F.loop, UV_RUN_NOWAIT);
		poll(NULL, 0, 1);
	}
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/* ---- a server that runs ------------------------------------------------------------ */

Test(server, starts_counts_reloads_and_stops_cleanly)
{
	char statics[128];
	snprintf(statics, sizeof(statics), "%s/static.jsonl", F.dir);
	write_file(statics, "{\"service\":\"web\",\"protocol\":\"tcp\",\"host\":\"w1.example.org\","
			    "\"port\":80}\n");
	char extra[512];
	snprintf(extra, sizeof(extra),
			"--static %s --api-allow 127.0.0.0/8 --http-allow 127.0.0.1/32 "
			"--dns-allow 127.0.0.0/8 --acl-dry-run --rrl-rate 100 --rrl-exempt 10.0.0.0/8",
			statics);
	configure(extra);
	start_server();
	pump(20);
	struct stats_snapshot snap;
	server_stats_collect(&F.srv, &snap);
	cr_expect(snap.dns.running);
	cr_expect(snap.http.running);
	cr_expect_str_eq(snap.site, "test");
	cr_expect(snap.statics.configured);
	cr_expect(snap.statics.ok);
	cr_expect_eq(snap.statics.instances, 1);
	cr_expect_eq(snap.store.sizes.instances, 1);
	/* SIGHUP: a bad static file keeps the set served and is counted. */
	write_file(statics, "{\"service\":\"web\"\n");
	cr_expect_eq(server_static_load(&F.srv), RS_ECONF);
	server_limits_reload(&F.srv);
	server_stats_collect(&F.srv, &snap);
	cr_expect_not(snap.statics.ok);
	cr_expect_eq(snap.statics.load_errors, 1);
	cr_expect_eq(snap.statics.instances, 1);
	cr_expect_eq(snap.store.sizes.instances, 1);
	/* An empty file: no static instance any more. */
	write_file(statics, "# none\n");
	cr_expect_eq(server_static_load(&F.srv), 0);
	server_stats_collect(&F.srv, &snap);
	cr_expect_eq(snap.store.sizes.instances, 0);
	cr_expect_eq(snap.statics.loads, 2);
	/* Stopped twice: the second is nothing. */
	server_stop(&F.srv);
	server_stop(&F.srv);
	uv_run(&F.loop, UV_RUN_DEFAULT);
	/* A module not running leaves its part of the snapshot zero. */
	server_stats_collect(&F.srv, &snap);
	cr_expect_not(snap.dns.running);
	cr_expect_not(snap.http.running);
	cr_expect_eq(snap.api.accepted, 0);
	cr_expect_eq(snap.persist.backups, 0);
	cr_expect_eq(snap.store.sizes.instances, 0);
	server_close(&F.srv);
	F.opened = false;
	cr_expect_eq(F.srv.exit_code, 0);
	cr_expect_null(F.srv.api);
}

Test(server, a_dry_run_acl_without_lists_starts_and_says_nothing_is_checked)
{
	configure("--acl-dry-run");
	start_server();
	struct stats_snapshot snap;
	server_stats_collect(&F.srv, &snap);
	cr_expect_eq(snap.acl.refused[0], 0);
}

/* ---- starts that fail ---------------------------------------------------------------- */

/* Each listener: its port taken before the start. */
struct taken {
	const char *name;
	int which; /* 0 api, 1 dns over TCP, 2 dns over UDP, 3 http */
	const char *word;
};

static const struct taken takens[] = {
		{"api", 0, "api listener 127.0.0.1:"},
		{"dns tcp", 1, "127.0.0.1:"},
		{"dns udp", 2, "127.0.0.1:"},
		{"http", 3, "127.0.0.1:"},
};

ParameterizedTestParameters(server, a_port_taken_refuses_the_start_and_closes_the_rest)
{
	static int idx[sizeof(takens) / sizeof(takens[0])];
	for (size_t k = 0; k < sizeof(idx) / sizeof(idx[0]); k++) {
		idx[k] = (int)k;
	}
	return cr_make_param_array(int, idx, sizeof(idx) / sizeof(idx[0]));
}

ParameterizedTest(int *i, server, a_port_taken_refuses_the_start_and_closes_the_rest)
{
	const struct taken *t = &takens[*i];
	uint16_t port = t->which == 0 ? F.api : t->which == 3 ? F.http : F.dns;
	int fd = socket(AF_INET, t->which == 2 ? SOCK_DGRAM : SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "%s", strerror(errno));
	if (t->which != 2) {
		cr_assert_eq(listen(fd, 1), 0);
	}
	configure("");
	char err[1024] = "";
	cr_assert_eq(open_server(err, sizeof(err)), 0, "%s", err);
	int rc = server_start(&F.srv, err, sizeof(err));
	cr_expect_eq(rc, -EADDRINUSE, "%s: %d %s", t->name, rc, err);
	char want[64];
	snprintf(want, sizeof(want), "%s%u", t->word, port);
	cr_expect_not_null(strstr(err, want), "%s: '%s' lacks '%s'", t->name, err, want);
	shut();
	F.opened = false;
	close(fd);
}

Test(server, a_writer_thread_that_cannot_start_refuses_the_start)
{
	sysfault_set_fn set = (sysfault_set_fn)dlsym(RTLD_DEFAULT, "sysfault_set");
	sysfault_struck_fn struck = (sysfault_struck_fn)dlsym(RTLD_DEFAULT, "sysfault_struck");
	cr_assert_not_null(set, "run under tests/faults/sysfault.c (LD_PRELOAD)");
	configure("");
	char err[1024] = "";
	cr_assert_eq(open_server(err, sizeof(err)), 0, "%s", err);
	set("pthread_create", NULL, 1, EAGAIN);
	int rc = server_start(&F.srv, err, sizeof(err));
	unsigned long n = struck();
	set("", NULL, 0, EIO);
	cr_expect_lt(rc, 0);
	cr_expect_eq(n, 1);
	cr_expect_not_null(strstr(err, "cannot start the writer thread"), "%s", err);
	shut();
	F.opened = false;
	/* The store is whole: the same data dir starts the next time. */
	memset(&F.srv, 0, sizeof(F.srv));
	configure("");
	start_server();
}

Test(server, missing_tsig_keys_or_an_unusable_data_dir_refuse_the_open)
{
	char err[1024] = "";
	configure("--xfr-key k1");
	cr_expect_eq(open_server(err, sizeof(err)), RS_ECONF);
	cr_expect_not_null(strstr(err, "no --tsig-keyfile given"), "%s", err);
	server_close(&F.srv);
	char keys[128];
	snprintf(keys, sizeof(keys), "%s/keys", F.dir);
	write_file(keys, "this is not a key file\n");
	memset(&F.srv, 0, sizeof(F.srv));
	char extra[256];
	snprintf(extra, sizeof(extra), "--tsig-keyfile %s", keys);
	configure(extra);
	cr_expect_lt(open_server(err, sizeof(err)), 0);
	cr_expect_not_null(strstr(err, "--tsig-keyfile"), "%s", err);
	server_close(&F.srv);
	/* A data dir that is a file. */
	memset(&F.srv, 0, sizeof(F.srv));
	configure("");
	snprintf(F.srv.cfg.data_dir, sizeof(F.srv.cfg.data_dir), "%s", keys);
	cr_expect_eq(open_server(err, sizeof(err)), -ENOTDIR);
	cr_expect_not_null(strstr(err, "not a directory"), "%s", err);
	server_close(&F.srv);
	F.opened = false;
}

/* ---- failed commits (tests/faults/lmdbfault.c, preloaded too) ------------------------ */

static void store_add(const char *host)
{
	struct store_registration r = {
			.service = "web", .protocol = "tcp", .host = host, .port = 80};
	bool created;
	uint64_t rev;
	cr_assert_eq(store_register(F.srv.store, &r, uv_now(&F.loop), 1, &created, &rev), 0);
}

static size_t instances(void)
{
	struct store_sizes sz;
	store_sizes_get(F.srv.store, &sz);
	return (size_t)sz.instances;
}

/* Run the loop until the commits failed reach @p n (or the server stops). */
static void pump_until_failures(uint64_t n)
{
	for (int i = 0; i < 3000 && F.srv.commit_failures < n && !F.srv.stopping; i++) {
		uv_run(&F.loop, UV_RUN_NOWAIT);
		poll(NULL, 0, 1);
	}
}

/* Commits fail while a marker file exists, with @p error. */
static void commits_fail_with(const char *error, char *marker, size_t markersz)
{
	snprintf(marker, markersz, "%s.fail", F.dir);
	cr_assert_eq(setenv("LMDBFAULT_CALL", "commit", 1), 0);
	cr_assert_eq(setenv("LMDBFAULT_ERROR", error, 1), 0);
	cr_assert_eq(setenv("LMDBFAULT_TXN", "top", 1), 0);
	cr_assert_eq(setenv("LMDBFAULT_WHILE", marker, 1), 0);
}

static void marker(const char *path, bool on)
{
	if (on) {
		FILE *f = fopen(path, "w");
		cr_assert_not_null(f, "run under tests/faults/lmdbfault.c (LD_PRELOAD)");
		fclose(f);
	} else {
		cr_assert_eq(unlink(path), 0);
	}
}

ParameterizedTestParameters(server, a_failed_commit_is_undone_in_memory_and_the_server_goes_on)
{
	static const char errors[][10] = {"EIO", "ENOSPC", "MAP_FULL"};
	return cr_make_param_array(char[10], errors, 3);
}

ParameterizedTest(char (*error)[10], server,
		a_failed_commit_is_undone_in_memory_and_the_server_goes_on)
{
	char fail[128];
	commits_fail_with(*error, fail, sizeof(fail));
	configure("");
	start_server();
	store_add("w1.example.org");
	pump(20);
	cr_assert_eq(instances(), 1);
	marker(fail, true);
	store_add("w2.example.org");
	cr_expect_eq(instances(), 2, "applied in memory before its commit");
	pump_until_failures(1);
	marker(fail, false);
	cr_assert_eq(F.srv.commit_failures, 1, "%s: the commit did not fail", *error);
	cr_expect_not(F.srv.stopping);
	cr_expect_eq(instances(), 1, "%s: the store was not reloaded from the disk", *error);
	struct stats_snapshot snap;
	server_stats_collect(&F.srv, &snap);
	cr_expect_eq(snap.persist.commit_failures, 1);
	/* The next write commits. */
	store_add("w3.example.org");
	pump(30);
	cr_expect_eq(instances(), 2);
	shut();
	F.opened = false;
	/* What was committed is what a restart serves. */
	unsetenv("LMDBFAULT_CALL");
	memset(&F.srv, 0, sizeof(F.srv));
	configure("");
	start_server();
	cr_expect_eq(instances(), 2);
}

Test(server, a_panic_at_a_commit_stops_the_server_with_exit_code_1)
{
	char fail[128];
	commits_fail_with("PANIC", fail, sizeof(fail));
	configure("");
	start_server();
	marker(fail, true);
	store_add("w1.example.org");
	pump_until_failures(1);
	cr_assert_eq(F.srv.commit_failures, 1);
	cr_expect(F.srv.stopping, "the server stops");
	cr_expect_eq(F.srv.exit_code, 1);
	/* Its handles close: the loop ends by itself (main.c then exits 1). */
	uv_run(&F.loop, UV_RUN_DEFAULT);
	server_close(&F.srv);
	F.opened = false;
	marker(fail, false);
}
