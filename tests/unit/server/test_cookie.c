/*
 * DNS Cookies: the RFC 9018 construction against the RFC's own test
 * vectors, the validity window, the secret file, and the answer engine's
 * replies to queries with cookies (raw bytes in, raw bytes out).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "server/dns/answer.h"
#include "server/dns/cookie.h"
#include "server/dns/dnswire.h"
#include "server/registry/store.h"
#include "tests/engine_fixture.h"

static void unhex(const char *h, uint8_t *out, size_t n)
{
	cr_assert_eq(strlen(h), 2 * n, "hex %s", h);
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		cr_assert_eq(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static struct sockaddr_storage addr(const char *text)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else {
		cr_assert_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
	}
	return ss;
}

static struct cookie_secrets secrets(const char *current, const char *previous)
{
	struct cookie_secrets s = {0};
	unhex(current, s.current, COOKIE_SECRET_LEN);
	if (previous != NULL) {
		unhex(previous, s.previous, COOKIE_SECRET_LEN);
		s.has_previous = true;
	}
	return s;
}

/* ---- RFC 9018 appendix A ------------------------------------------------ */

struct vector {
	const char *name;
	const char *secret, *previous;
	const char *ip;
	const char *option; /* the query's COOKIE option, hex */
	uint32_t now;
	enum cookie_result result;
	const char *server; /* the server cookie we must send, hex */
};

static const struct vector vectors[] = {
		{"A.1 learning a new server cookie", "e5e973e5a6b2a43f48e7dc849e37bfcf", NULL,
				"198.51.100.100", "2464c4abcf10c957", 1559731985, COOKIE_NEW,
				"010000005cf79f111f8130c3eee29480"},
		{"A.2 the same client 40 minutes later: renewed",
				"e5e973e5a6b2a43f48e7dc849e37bfcf", NULL, "198.51.100.100",
				"2464c4abcf10c957010000005cf79f111f8130c3eee29480", 1559734385,
				COOKIE_GOOD, "010000005cf7a871d4a564a1442aca77"},
		{"A.3 a cookie 1 h 52 min old: stale, replaced", "e5e973e5a6b2a43f48e7dc849e37bfcf",
				NULL, "203.0.113.203",
				"fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", 1559734700,
				COOKIE_BAD, "010000005cf7a9acf73a7810aca2381e"},
		{"A.3's cookie a minute after it was made: reserved octets hashed as received",
				"e5e973e5a6b2a43f48e7dc849e37bfcf", NULL, "203.0.113.203",
				"fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", 1559727985 + 60,
				COOKIE_GOOD, "01abcdef5cf78f71a314227b6679ebf5"},
		{"A.4 IPv6, made with the previous secret: accepted, reissued with the new",
				"445536bcd2513298075a5d379663c962",
				"dd3bdf9344b678b185a6f5cb60fca715",
				"2001:db8:220:1:59de:d0f4:8769:82b8",
				"22681ab97d52c298010000005cf7c57926556bd0934c72f8", 1559741961,
				COOKIE_GOOD, "010000005cf7c609a6bb79d16625507a"},
};

Test(cookie, rfc9018_vectors)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		struct cookie_secrets s = secrets(v->secret, v->previous);
		struct sockaddr_storage ss = addr(v->ip);
		uint8_t opt[40], want[COOKIE_SERVER_LEN], got[COOKIE_SERVER_LEN];
		size_t len = strlen(v->option) / 2;
		unhex(v->option, opt, len);
		unhex(v->server, want, sizeof(want));
		enum cookie_result r =
				cookie_check(&s, opt, len, (struct sockaddr *)&ss, v->now, got);
		cr_expect_eq(r, v->result, "%s: result %d", v->name, r);
		cr_expect_arr_eq(got, want, sizeof(want), "%s: wrong server cookie", v->name);
	}
}

Test(cookie, previous_secret_gone_means_bad)
{
	/* A.4's cookie without the old secret: not ours any more. */
	struct cookie_secrets s = secrets("445536bcd2513298075a5d379663c962", NULL);
	struct sockaddr_storage ss = addr("2001:db8:220:1:59de:d0f4:8769:82b8");
	uint8_t opt[24], got[16];
	unhex("22681ab97d52c298010000005cf7c57926556bd0934c72f8", opt, 24);
	cr_assert_eq(cookie_check(&s, opt, 24, (struct sockaddr *)&ss, 1559741961, got),
			COOKIE_BAD);
	uint8_t want[16];
	unhex("010000005cf7c609a6bb79d16625507a", want, 16);
	cr_assert_arr_eq(got, want, 16, "a bad cookie is replaced by a fresh one");
}

Test(cookie, other_address_or_tampered_is_bad)
{
	struct cookie_secrets s = secrets("e5e973e5a6b2a43f48e7dc849e37bfcf", NULL);
	uint8_t opt[24], got[16];
	unhex("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", opt, 24);
	struct sockaddr_storage other = addr("203.0.113.204");
	const uint32_t now = 1559727985 + 60; /* within the hour of A.3's cookie */
	struct sockaddr_storage right = addr("203.0.113.203");
	cr_assert_eq(cookie_check(&s, opt, 24, (struct sockaddr *)&right, now, got), COOKIE_GOOD);
	cr_assert_eq(cookie_check(&s, opt, 24, (struct sockaddr *)&other, now, got), COOKIE_BAD);
	opt[23] ^= 1;
	cr_assert_eq(cookie_check(&s, opt, 24, (struct sockaddr *)&right, now, got), COOKIE_BAD);
	opt[23] ^= 1;
	opt[8] = 2; /* another version */
	cr_assert_eq(cookie_check(&s, opt, 24, (struct sockaddr *)&right, now, got), COOKIE_BAD);
	/* 8 octets of server cookie: some other server's format. */
	cr_assert_eq(cookie_check(&s, opt, 16, (struct sockaddr *)&right, now, got), COOKIE_BAD);
	cr_assert_eq(got[0], 1);
}

Test(cookie, ipv4_mapped_hashes_as_ipv4)
{
	struct cookie_secrets s = secrets("e5e973e5a6b2a43f48e7dc849e37bfcf", NULL);
	struct sockaddr_storage ss = addr("::ffff:198.51.100.100");
	uint8_t opt[8], got[16], want[16];
	unhex("2464c4abcf10c957", opt, 8);
	unhex("010000005cf79f111f8130c3eee29480", want, 16);
	cr_assert_eq(cookie_check(&s, opt, 8, (struct sockaddr *)&ss, 1559731985, got), COOKIE_NEW);
	cr_assert_arr_eq(got, want, 16);
}

/* The window of RFC 9018 4.3, across the 2^32 wrap too. */
Test(cookie, window)
{
	struct cookie_secrets s = secrets("e5e973e5a6b2a43f48e7dc849e37bfcf", NULL);
	struct sockaddr_storage ss = addr("192.0.2.1");
	static const struct {
		uint32_t issued, now;
		enum cookie_result result;
		bool echoed;
	} cases[] = {
			{1000000, 1000000, COOKIE_GOOD, true},
			{1000000, 1000000 + 1799, COOKIE_GOOD, true},
			{1000000, 1000000 + 1800, COOKIE_GOOD, false}, /* half an hour: renewed */
			{1000000, 1000000 + 3600, COOKIE_GOOD, false},
			{1000000, 1000000 + 3601, COOKIE_BAD, false}, /* over an hour: stale */
			{1000000 + 300, 1000000, COOKIE_GOOD, true},  /* five minutes ahead */
			{1000000 + 301, 1000000, COOKIE_BAD, false},
			{4294967000u, 200, COOKIE_GOOD, true}, /* 496 s old, across the wrap */
			{4294967000u, 4000, COOKIE_BAD, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t opt[24], first[16];
		unhex("0102030405060708", opt, 8);
		(void)cookie_check(&s, opt, 8, (struct sockaddr *)&ss, cases[i].issued, first);
		memcpy(opt + 8, first, 16);
		uint8_t got[16];
		enum cookie_result r = cookie_check(
				&s, opt, 24, (struct sockaddr *)&ss, cases[i].now, got);
		cr_expect_eq(r, cases[i].result, "case %zu: result %d", i, r);
		cr_expect_eq(memcmp(got, first, 16) == 0, cases[i].echoed, "case %zu: echoed", i);
		if (!cases[i].echoed) {
			uint32_t ts = (uint32_t)got[4] << 24 | (uint32_t)got[5] << 16 |
				      (uint32_t)got[6] << 8 | got[7];
			cr_expect_eq(ts, cases[i].now, "case %zu: a renewed cookie has our time",
					i);
		}
	}
}

/* ---- the secret file ------------------------------------------------------ */

static char dir[64];

static void dir_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/roster-cookie-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void dir_teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

Test(cookie_file, created_once_then_read_back, .init = dir_setup, .fini = dir_teardown)
{
	char path[128], err[256];
	snprintf(path, sizeof(path), "%s/dns-cookie-secret", dir);
	struct cookie_secrets a, b;
	cr_assert_eq(cookie_secrets_load(path, &a, err, sizeof(err)), 0, "%s", err);
	struct stat sb;
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600);
	cr_assert_eq(sb.st_size, 33);
	cr_assert_eq(cookie_secrets_load(path, &b, err, sizeof(err)), 0, "%s", err);
	cr_assert_arr_eq(a.current, b.current, COOKIE_SECRET_LEN);
	cr_assert(!b.has_previous);
	static const uint8_t zero[COOKIE_SECRET_LEN];
	cr_assert(memcmp(a.current, zero, sizeof(zero)) != 0);
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s/.dns-cookie-secret.tmp", dir);
	cr_assert_eq(access(tmp, F_OK), -1, "no temporary file is left behind");
}

Test(cookie_file, two_lines_give_a_previous_secret, .init = dir_setup, .fini = dir_teardown)
{
	char path[128], err[256];
	snprintf(path, sizeof(path), "%s/s", dir);
	write_file(path, "445536BCD2513298075A5D379663C962\ndd3bdf9344b678b185a6f5cb60fca715\n");
	struct cookie_secrets s;
	cr_assert_eq(cookie_secrets_load(path, &s, err, sizeof(err)), 0, "%s", err);
	struct cookie_secrets want = secrets(
			"445536bcd2513298075a5d379663c962", "dd3bdf9344b678b185a6f5cb60fca715");
	cr_assert_arr_eq(s.current, want.current, COOKIE_SECRET_LEN);
	cr_assert_arr_eq(s.previous, want.previous, COOKIE_SECRET_LEN);
	cr_assert(s.has_previous);
}

Test(cookie_file, malformed_files_are_refused, .init = dir_setup, .fini = dir_teardown)
{
	static const char *bad[] = {
			"", "\n", "e5e973e5a6b2a43f48e7dc849e37bfc\n", /* 31 digits */
			"e5e973e5a6b2a43f48e7dc849e37bfcf0\n",         /* 33 */
			"e5e973e5a6b2a43f48e7dc849e37bfcg\n",          /* not hex */
			"e5e973e5a6b2a43f48e7dc849e37bfcf\nshort\n",
			"e5e973e5a6b2a43f48e7dc849e37bfcf\ne5e973e5a6b2a43f48e7dc849e37bfcf\n"
			"e5e973e5a6b2a43f48e7dc849e37bfcf\n", /* three secrets */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[128], err[256] = "";
		snprintf(path, sizeof(path), "%s/bad%zu", dir, i);
		write_file(path, bad[i]);
		struct cookie_secrets s;
		cr_expect_eq(cookie_secrets_load(path, &s, err, sizeof(err)), RS_ECONF, "case %zu",
				i);
		cr_expect(strstr(err, path) != NULL, "case %zu: the message names the file: %s", i,
				err);
	}
}

Test(cookie_file, unreadable_directory_is_an_error, .init = dir_setup, .fini = dir_teardown)
{
	char path[128], err[256] = "";
	snprintf(path, sizeof(path), "%s/missing/dir/secret", dir);
	struct cookie_secrets s;
	cr_assert_eq(cookie_secrets_load(path, &s, err, sizeof(err)), -ENOENT);
	cr_assert(strstr(err, "missing/dir") != NULL, "%s", err);
}

/* Paths that are no file: a directory (read fails: EISDIR), a file under
 * a regular file (ENOTDIR), a name ending in '/' (no file name to create),
 * upper-case and CRLF secrets read back, and a relative name created in
 * the working directory. */
Test(cookie_file, paths_that_are_no_file, .init = dir_setup, .fini = dir_teardown)
{
	char path[160], err[256] = "";
	struct cookie_secrets s;
	cr_expect_eq(cookie_secrets_load(dir, &s, err, sizeof(err)), -EISDIR, "%s", err);
	cr_expect(strstr(err, "cannot read cookie secret") != NULL, "%s", err);
	snprintf(path, sizeof(path), "%s/file", dir);
	write_file(path, "x");
	snprintf(path, sizeof(path), "%s/file/secret", dir);
	cr_expect_eq(cookie_secrets_load(path, &s, err, sizeof(err)), -ENOTDIR, "%s", err);
	snprintf(path, sizeof(path), "%s/newdir/", dir);
	cr_expect_eq(cookie_secrets_load(path, &s, err, sizeof(err)), RS_EINVAL, "%s", err);
	cr_expect(strstr(err, "not a file name") != NULL, "%s", err);
	snprintf(path, sizeof(path), "%s/crlf", dir);
	write_file(path, "445536BCD2513298075A5D379663C962\r\n");
	cr_expect_eq(cookie_secrets_load(path, &s, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(s.current[0], 0x44);
	cr_expect_not(s.has_previous);
	char cwd[4096];
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(dir), 0);
	int rc = cookie_secrets_load("relative-secret", &s, err, sizeof(err));
	cr_assert_eq(chdir(cwd), 0);
	cr_expect_eq(rc, 0, "%s", err);
	snprintf(path, sizeof(path), "%s/relative-secret", dir);
	cr_expect_eq(access(path, R_OK), 0, "created in the working directory");
	if (getuid() != 0) {
		snprintf(path, sizeof(path), "%s/ro", dir);
		cr_assert_eq(mkdir(path, 0500), 0);
		snprintf(path, sizeof(path), "%s/ro/secret", dir);
		cr_expect_eq(cookie_secrets_load(path, &s, err, sizeof(err)), -EACCES, "%s", err);
		cr_expect(strstr(err, "cannot write cookie secret") != NULL, "%s", err);
	}
}

/* ---- the answer engine with cookies ---------------------------------------- */

#define ZONE ENGINE_ZONE

static struct engine_fixture fx;
static uint8_t out[65535];
static struct answer_result res;
static struct cookie_secrets engine_secrets;

static void engine_setup_with(bool cookies)
{
	engine_secrets = secrets("e5e973e5a6b2a43f48e7dc849e37bfcf", NULL);
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	cfg.cookies = cookies ? &engine_secrets : NULL;
	cr_assert_eq(engine_fixture_open(&fx, &cfg, false), 0);
}

static void engine_setup(void)
{
	engine_setup_with(true);
}

static void engine_setup_off(void)
{
	engine_setup_with(false);
}

static void engine_teardown(void)
{
	engine_fixture_close(&fx);
}

/* A query for the zone's SOA (or none with @p question false) with an OPT
 * carrying @p cookie of @p clen octets (no COOKIE option when 0). */
static size_t mkq(uint8_t *b, bool question, const uint8_t *cookie, size_t clen, uint8_t version)
{
	static const uint8_t qname[] = "\x08services\x04lon6\x07"
				       "example\x03net";
	memset(b, 0, 12);
	b[0] = 0xab;
	b[1] = 0xcd;
	b[2] = 0x01;
	b[5] = question ? 1 : 0;
	b[11] = 1;
	size_t n = 12;
	if (question) {
		memcpy(b + n, qname, sizeof(qname));
		n += sizeof(qname);
		b[n++] = 0;
		b[n++] = 6; /* SOA */
		b[n++] = 0;
		b[n++] = 1;
	}
	uint8_t opt[11] = {0, 0, 41, 4, 0xd0, 0, version, 0, 0, 0, 0};
	size_t rdlen = clen > 0 ? 4 + clen : 0;
	opt[9] = (uint8_t)(rdlen >> 8);
	opt[10] = (uint8_t)rdlen;
	memcpy(b + n, opt, 11);
	n += 11;
	if (clen > 0) {
		b[n++] = 0;
		b[n++] = DNSWIRE_OPT_COOKIE;
		b[n++] = 0;
		b[n++] = (uint8_t)clen;
		memcpy(b + n, cookie, clen);
		n += clen;
	}
	return n;
}

static void ask(const uint8_t *q, size_t len, const char *from, uint32_t now)
{
	struct sockaddr_storage ss = addr(from);
	struct answer_client c = {ANSWER_UDP, (struct sockaddr *)&ss, 0, now};
	answer_process(fx.an, q, len, &c, 5000, out, 4096, &res);
}

static unsigned rcode_of(void)
{
	return out[3] & 0xf;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Find the COOKIE option in the reply's OPT (the last record); NULL if none. */
static const uint8_t *reply_cookie(size_t *len)
{
	/* Walk to the OPT: it is the last record, owner root (one zero octet). */
	cr_assert_geq(res.len, 12 + 11);
	for (size_t off = 12; off + 11 <= res.len; off++) {
		if (out[off] == 0 && get16(out + off + 1) == 41 &&
				off + 11 + get16(out + off + 9) == res.len) {
			size_t rd = get16(out + off + 9);
			const uint8_t *p = out + off + 11;
			for (size_t i = 0; i + 4 <= rd;) {
				uint16_t code = get16(p + i), olen = get16(p + i + 2);
				if (code == DNSWIRE_OPT_COOKIE) {
					*len = olen;
					return p + i + 4;
				}
				i += 4u + olen;
			}
			return NULL;
		}
	}
	return NULL;
}

Test(cookie_engine, client_cookie_gets_a_server_cookie, .init = engine_setup,
		.fini = engine_teardown)
{
	uint8_t q[512], cc[8];
	unhex("2464c4abcf10c957", cc, 8);
	size_t n = mkq(q, true, cc, 8, 0);
	ask(q, n, "198.51.100.100", 1559731985);
	cr_assert_eq(res.action, ANSWER_SEND);
	cr_assert_eq(rcode_of(), 0);
	cr_assert_eq(get16(out + 6), 1, "the SOA is answered as usual");
	size_t clen = 0;
	const uint8_t *c = reply_cookie(&clen);
	cr_assert_not_null(c);
	cr_assert_eq(clen, 24);
	uint8_t want[24];
	unhex("2464c4abcf10c957010000005cf79f111f8130c3eee29480", want, 24);
	cr_assert_arr_eq(c, want, 24, "RFC 9018 A.1, end to end");
	const struct answer_counters *ac = answer_counters_get(fx.an);
	cr_assert_eq(ac->cookies[COOKIE_NEW], 1);

	/* Sent back within half an hour: valid, and echoed as it was. */
	n = mkq(q, true, want, 24, 0);
	ask(q, n, "198.51.100.100", 1559731985 + 60);
	c = reply_cookie(&clen);
	cr_assert_not_null(c);
	cr_assert_arr_eq(c, want, 24);
	cr_assert_eq(ac->cookies[COOKIE_GOOD], 1);

	/* From another address: not valid there, a new one is issued. */
	ask(q, n, "198.51.100.101", 1559731985 + 60);
	c = reply_cookie(&clen);
	cr_assert_not_null(c);
	cr_assert(memcmp(c + 8, want + 8, 16) != 0);
	cr_assert_eq(ac->cookies[COOKIE_BAD], 1);
	cr_assert_eq(rcode_of(), 0, "never BADCOOKIE: we do not require cookies");
}

Test(cookie_engine, cookie_only_query_learns_the_cookie, .init = engine_setup,
		.fini = engine_teardown)
{
	uint8_t q[512], cc[8];
	unhex("2464c4abcf10c957", cc, 8);
	size_t n = mkq(q, false, cc, 8, 0);
	ask(q, n, "198.51.100.100", 1559731985);
	cr_assert_eq(res.action, ANSWER_SEND);
	cr_assert_eq(rcode_of(), 0, "RFC 7873 5.4: NOERROR");
	cr_assert_eq(get16(out + 4), 0, "no question");
	cr_assert_eq(get16(out + 6) + get16(out + 8), 0, "no records");
	cr_assert_eq(get16(out + 10), 1, "the OPT");
	cr_assert_eq(out[0], 0xab);
	cr_assert(out[2] & 0x80, "QR");
	size_t clen = 0;
	const uint8_t *c = reply_cookie(&clen);
	cr_assert_not_null(c);
	uint8_t want[24];
	unhex("2464c4abcf10c957010000005cf79f111f8130c3eee29480", want, 24);
	cr_assert_arr_eq(c, want, 24);
	cr_assert_eq(res.len, 12 + 11 + 28);
}

Test(cookie_engine, no_question_and_no_cookie_is_formerr, .init = engine_setup,
		.fini = engine_teardown)
{
	uint8_t q[512];
	size_t n = mkq(q, false, NULL, 0, 0);
	ask(q, n, "192.0.2.1", 1000);
	cr_assert_eq(res.action, ANSWER_SEND);
	cr_assert_eq(rcode_of(), 1);
	/* QDCOUNT 0 and nothing else at all. */
	uint8_t h[12] = {1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	ask(h, sizeof(h), "192.0.2.1", 1000);
	cr_assert_eq(res.action, ANSWER_SEND);
	cr_assert_eq(rcode_of(), 1);
}

Test(cookie_engine, bad_cookie_lengths_are_formerr, .init = engine_setup, .fini = engine_teardown)
{
	static const size_t lens[] = {1, 7, 9, 15, 41};
	uint8_t cc[41] = {1, 2, 3, 4, 5, 6, 7, 8};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (int question = 0; question < 2; question++) {
			uint8_t q[512];
			size_t n = mkq(q, question, cc, lens[i], 0);
			ask(q, n, "192.0.2.1", 1000);
			cr_expect_eq(res.action, ANSWER_SEND);
			cr_expect_eq(rcode_of(), 1, "cookie of %zu octets: FORMERR", lens[i]);
			size_t clen;
			cr_expect_null(reply_cookie(&clen),
					"no cookie in a FORMERR for a bad cookie");
		}
	}
}

Test(cookie_engine, badvers_and_refused_carry_the_cookie, .init = engine_setup,
		.fini = engine_teardown)
{
	uint8_t q[512], cc[8] = {8, 7, 6, 5, 4, 3, 2, 1};
	size_t n = mkq(q, true, cc, 8, 1);
	ask(q, n, "192.0.2.1", 1000);
	cr_assert_eq((out[3] & 0xf) | 16, 16, "BADVERS (extended rcode 16)");
	size_t clen;
	const uint8_t *c = reply_cookie(&clen);
	cr_assert_not_null(c);
	cr_assert_arr_eq(c, cc, 8);
	n = mkq(q, false, cc, 8, 1);
	ask(q, n, "192.0.2.1", 1000);
	cr_assert_not_null(reply_cookie(&clen), "a cookie-only query of EDNS 1: BADVERS + cookie");
}

Test(cookie_engine, off_ignores_cookies, .init = engine_setup_off, .fini = engine_teardown)
{
	uint8_t q[512], cc[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	size_t n = mkq(q, true, cc, 8, 0);
	ask(q, n, "192.0.2.1", 1000);
	cr_assert_eq(rcode_of(), 0);
	size_t clen;
	cr_assert_null(reply_cookie(&clen));
	n = mkq(q, false, cc, 8, 0);
	ask(q, n, "192.0.2.1", 1000);
	cr_assert_eq(rcode_of(), 1,
			"without cookies a cookie-only query is FORMERR (RFC 7873 5.4)");
}

Test(cookie_engine, cookie_only_query_with_tsig_is_notauth, .init = engine_setup,
		.fini = engine_teardown)
{
	uint8_t q[512], cc[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	size_t n = mkq(q, false, cc, 8, 0);
	/* A well-formed TSIG record of a key we do not hold (no MAC). */
	static const uint8_t tsig[] = {0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 29, 11, 'h', 'm', 'a', 'c',
			'-', 's', 'h', 'a', '2', '5', '6', 0, 0, 0, 0, 0, 0, 0, 1, 44, 0, 0, 0xab,
			0xcd, 0, 0, 0, 0};
	memcpy(q + n, tsig, sizeof(tsig));
	n += sizeof(tsig);
	q[11] = 2;
	ask(q, n, "192.0.2.1", 1000);
	cr_assert_eq(res.action, ANSWER_SEND);
	cr_assert_eq(rcode_of(), 9, "NOTAUTH (BADKEY), as for any query with an unknown key");
	cr_assert_eq(get16(out + 4), 0, "no question");
}
