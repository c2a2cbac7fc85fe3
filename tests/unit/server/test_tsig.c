/*
 * TSIG (server/dns/tsig.c): the key file parser (a table of bad files),
 * signing and verifying against messages dnspython signed
 * (tsig_vectors.h, made by tsig_vectors.py), round trips of requests,
 * multi-message answers and every error answer; and the answer engine's
 * use of it (answer_tsig.c): signed queries answered signed, transfers
 * refused by reason, every message of a transfer signed.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/error.h"
#include "server/dns/answer.h"
#include "server/dns/dnswire.h"
#include "server/dns/tsig.h"
#include "server/dns/xfr.h"
#include "server/registry/store.h"

#include "tests/engine_fixture.h"
#include "tests/unit/server/answer_test.h"
#include "tests/unit/server/tsig_vectors.h"

#define ENGINE_ZONE_WIRE 27u /* services.lon6.example.net. */

static struct tsig_keyring *parse(const char *text, char *err, size_t errsz, int *rc)
{
	struct tsig_keyring *kr = NULL;
	*rc = tsig_keyring_parse(text, strlen(text), "keys.conf", &kr, err, errsz);
	return kr;
}

/* ---- the key file ---------------------------------------------------------- */

Test(tsig, keyfile_of_several_keys_with_comments)
{
	const char *text =
			"# rosterd and NSD share this file\n"
			"key \"xfr-key\" {\n"
			"\talgorithm hmac-sha256; // BIND writes it so\n"
			"\tsecret \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\";\n"
			"};\n"
			"/* a second key,\n   bare name, upper case, Knot's dotted algorithm */\n"
			"KEY Notify.Example. { ALGORITHM hmac-sha512.; secret AAEC; };\n"
			"key \"under_score\" { secret \"AAEC\"; algorithm \"hmac-sha256\"; };";
	char err[256] = "";
	int rc;
	struct tsig_keyring *kr = parse(text, err, sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(kr->n, 3);
	cr_expect_str_eq(kr->keys[0].name, "xfr-key.");
	cr_expect_eq(kr->keys[0].alg, TSIG_HMAC_SHA256);
	cr_expect_eq(kr->keys[0].secret_len, 32);
	cr_expect_eq(kr->keys[0].secret[31], 31);
	cr_expect_str_eq(kr->keys[1].name, "notify.example.");
	cr_expect_eq(kr->keys[1].alg, TSIG_HMAC_SHA512);
	cr_expect_eq(kr->keys[1].secret_len, 3);
	cr_expect_eq(tsig_keyring_find(kr, "XFR-KEY"), &kr->keys[0]);
	cr_expect_eq(tsig_keyring_find(kr, "notify.example"), &kr->keys[1]);
	cr_expect_eq(tsig_keyring_find(kr, "under_score."), &kr->keys[2]);
	cr_expect_null(tsig_keyring_find(kr, "other"));
	cr_expect_null(tsig_keyring_find(NULL, "xfr-key"));
	cr_expect_str_eq(tsig_alg_name(kr->keys[1].alg), "hmac-sha512.");
	tsig_keyring_free(kr);
	tsig_keyring_free(NULL);
}

/* Arrays, not pointers: criterion hands parameters to a new process. */
struct bad_file {
	char what[32];
	char text[400];
	char msg[96]; /* the start of the error message */
};

ParameterizedTestParameters(tsig, keyfile_bad)
{
	static struct bad_file cases[] = {
			{"empty", "", "keys.conf: no key statement"},
			{"comments only", "# nothing\n// here\n", "keys.conf: no key statement"},
			{"unknown statement", "options { };",
					"keys.conf:1: unknown statement 'options'"},
			{"no name", "key { algorithm hmac-sha256; };",
					"keys.conf:1: expected a key name after 'key', found {"},
			{"bad name", "key \"a..b\" { };", "keys.conf:1: invalid key name 'a..b'"},
			{"no brace", "key k algorithm",
					"keys.conf:1: expected '{', found algorithm"},
			{"md5", "key k {\n algorithm hmac-md5;\n secret \"AAEC\"; };",
					"keys.conf:2: unsupported algorithm 'hmac-md5'"},
			{"sha1", "key k { algorithm hmac-sha1; secret \"AAEC\"; };",
					"keys.conf:1: unsupported algorithm 'hmac-sha1'"},
			{"no algorithm", "\n\nkey k {\n secret \"AAEC\";\n};",
					"keys.conf:3: key k.: no algorithm"},
			{"no secret", "key k { algorithm hmac-sha256; };",
					"keys.conf:1: key k.: no secret"},
			{"not base64", "key k { algorithm hmac-sha256; secret \"!!!!\"; };",
					"keys.conf:1: key k.: the secret is not base64"},
			{"empty secret", "key k { algorithm hmac-sha256; secret \"\"; };",
					"keys.conf:1: key k.: empty secret"},
			{"secret too long",
					"key k { algorithm hmac-sha256; secret "
					"\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
					"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
					"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
					"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
					"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"; };",
					"keys.conf:1: key k.: the secret is not base64, or over 256"},
			{"unknown clause", "key k { algorithm hmac-sha256; keyid 3; };",
					"keys.conf:1: key k.: unknown clause 'keyid'"},
			{"missing semicolon", "key k { algorithm hmac-sha256 secret \"AAEC\"; };",
					"keys.conf:1: expected ';', found secret"},
			{"missing final semicolon", "key k { algorithm hmac-sha256; secret AAEC; }",
					"keys.conf:1: expected ';' after '}', found the end of the file"},
			{"unterminated string", "key \"k { };", "keys.conf:1: unterminated string"},
			{"unterminated comment", "/* key k", "keys.conf:1: unterminated comment"},
			{"duplicate",
					"key k { algorithm hmac-sha256; secret AAEC; };\n"
					"key K. { algorithm hmac-sha512; secret AAEC; };",
					"keys.conf:2: duplicate key k."},
			{"stray character", "key k { algorithm hmac-sha256; secret AAEC; }; @",
					"keys.conf:1: unexpected character '@'"},
			{"end inside a key", "key k { algorithm hmac-sha256;",
					"keys.conf:1: key k.: expected algorithm or secret, found the end"},
			{"end after key", "key",
					"keys.conf:1: expected a key name after 'key', found the end"},
			{"stray character as the name", "key @",
					"keys.conf:1: unexpected character '@'"},
			{"stray character for a brace", "key k @",
					"keys.conf:1: unexpected character '@'"},
			{"stray character inside a key", "key k { @",
					"keys.conf:1: unexpected character '@'"},
			{"algorithm without a name", "key k { algorithm { };",
					"keys.conf:1: key k.: algorithm without a name"},
			{"secret without a value", "key k { algorithm hmac-sha256; secret ; };",
					"keys.conf:1: key k.: secret without a value"},
			{"a clause that is no word", "key k { \"algorithm\" hmac-sha256; };",
					"keys.conf:1: key k.: expected algorithm or secret, found algorithm"},
			{"algorithm name over 31",
					"key k { algorithm hmac-sha256-and-a-good-deal-more; };",
					"keys.conf:1: unsupported algorithm 'hmac-sha256-and-a-good-deal-more'"},
			{"multi-line comment counts lines",
					"/* one\ntwo\n*/\r\n\tkey k { algorithm x; };",
					"keys.conf:4: unsupported algorithm 'x'"},
			{"a string cut by the line's end", "key \"k\n\" { };",
					"keys.conf:1: unterminated string"},
			{"a slash that starts no comment", "/x key k { };",
					"keys.conf:1: unknown statement '/x'"},
			{"a statement that is no word", "; key k { };",
					"keys.conf:1: unknown statement ';'"},
			{"an empty algorithm", "key k { algorithm \"\"; secret AAEC; };",
					"keys.conf:1: unsupported algorithm ''"},
			{"bytes after base64 padding",
					"key k { algorithm hmac-sha256; secret \"AA==AA\"; };",
					"keys.conf:1: key k.: the secret is not base64"},
	};
	return cr_make_param_array(struct bad_file, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_file *c, tsig, keyfile_bad)
{
	char err[512] = "";
	int rc;
	struct tsig_keyring *kr = parse(c->text, err, sizeof(err), &rc);
	cr_expect_eq(rc, RS_ECONF, "%s: rc %d", c->what, rc);
	cr_expect_null(kr);
	cr_expect(strncmp(err, c->msg, strlen(c->msg)) == 0, "%s: got '%s', want '%s...'", c->what,
			err, c->msg);
}

/* Comments as they end a file or hold a lone '*', and a caller that wants
 * no message (no room for one): the keys are read all the same. */
Test(tsig, keyfile_comments_at_the_edges_and_no_room_for_a_message)
{
	static const char *const texts[] = {
			"/* a * in here */ key k { algorithm hmac-sha256; secret AAEC; };",
			"key k { algorithm hmac-sha256; secret AAEC; }; # no newline after",
			"key k { algorithm hmac-sha256; secret AAEC; }; // nor here",
	};
	for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
		char err[256] = "";
		int rc;
		struct tsig_keyring *kr = parse(texts[k], err, sizeof(err), &rc);
		cr_assert_eq(rc, 0, "%s: %s", texts[k], err);
		cr_expect_eq(kr->n, 1);
		cr_expect_eq(kr->keys[0].alg, TSIG_HMAC_SHA256);
		cr_expect_str_eq(tsig_alg_name(kr->keys[0].alg), "hmac-sha256.");
		tsig_keyring_free(kr);
	}
	struct tsig_keyring *kr = NULL;
	char none = 'x';
	cr_expect_eq(tsig_keyring_parse(texts[0], strlen(texts[0]), "keys.conf", &kr, &none, 0), 0);
	cr_expect_not_null(kr);
	cr_expect_eq(none, 'x', "nothing written where there is no room");
	tsig_keyring_free(kr);
	cr_expect_eq(tsig_keyring_parse("bad", 3, "keys.conf", &kr, &none, 0), RS_ECONF);
	cr_expect_null(kr);
	cr_expect_eq(none, 'x');
}

Test(tsig, keyfile_load_names_a_missing_file)
{
	struct tsig_keyring *kr = NULL;
	char err[512];
	cr_expect_eq(tsig_keyring_load("/nonexistent/keys.conf", &kr, err, sizeof(err)), RS_ECONF);
	cr_expect_null(kr);
	cr_expect(strstr(err, "/nonexistent/keys.conf") != NULL, "%s", err);
}

/* Upper case, '+', '/' and '=' in words, an algorithm written as Knot
 * writes it (trailing dot), and a secret that is a word. */
Test(tsig, keyfile_words_as_other_servers_write_them)
{
	char err[512] = "";
	int rc;
	struct tsig_keyring *kr = parse("KEY Xfr.Key { Algorithm HMAC-SHA512.; Secret AbC+/w==; };",
			err, sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_eq(kr->n, 1);
	cr_expect_eq(kr->keys[0].alg, TSIG_HMAC_SHA512);
	cr_expect_eq(kr->keys[0].secret_len, 4);
	cr_expect_not_null(tsig_keyring_find(kr, "xfr.key."));
	cr_expect_null(tsig_keyring_find(kr, "bad..name"), "an invalid name finds nothing");
	tsig_keyring_free(kr);
}

/* A token over 1,023 characters, quoted or not, is refused by name. */
Test(tsig, keyfile_tokens_over_the_limit)
{
	static char text[1200];
	char err[512] = "";
	int rc;
	memset(text, 'a', sizeof(text) - 1);
	memcpy(text, "key ", 4);
	cr_expect_null(parse(text, err, sizeof(err), &rc));
	cr_expect_eq(rc, RS_ECONF);
	cr_expect_str_eq(err, "keys.conf:1: word too long");
	memcpy(text, "key \"", 5);
	cr_expect_null(parse(text, err, sizeof(err), &rc));
	cr_expect_str_eq(err, "keys.conf:1: string too long");
}

/* A key file that cannot be read (a directory) or passes 1 MiB: refused,
 * naming the file and the reason. */
Test(tsig, keyfile_load_refuses_unreadable_and_oversize_files)
{
	char dir[] = "/tmp/roster-tsig-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	struct tsig_keyring *kr = NULL;
	char err[512] = "";
	cr_expect_eq(tsig_keyring_load(dir, &kr, err, sizeof(err)), RS_ECONF);
	cr_expect_null(kr);
	cr_expect(strstr(err, dir) != NULL && strstr(err, "read error") != NULL, "%s", err);
	char path[64];
	snprintf(path, sizeof(path), "%s/keys.conf", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("key k { algorithm hmac-sha256; secret AAEC; };\n", f);
	for (int i = 0; i < (1 << 20) / 16; i++) {
		fputs("# padding......\n", f);
	}
	fclose(f);
	cr_expect_eq(tsig_keyring_load(path, &kr, err, sizeof(err)), RS_ECONF);
	cr_expect_null(kr);
	cr_expect(strstr(err, "larger than 1048576 octets") != NULL, "%s", err);
	f = fopen(path, "w");
	fputs("key k { algorithm hmac-sha256; secret AAEC; };\n", f);
	fclose(f);
	cr_expect_eq(tsig_keyring_load(path, &kr, err, sizeof(err)), 0, "%s", err);
	cr_expect_not_null(kr);
	tsig_keyring_free(kr);
	unlink(path);
	rmdir(dir);
}

/* ---- against dnspython ------------------------------------------------------ */

static struct tsig_keyring *vector_ring(enum tsig_alg alg, const char *name)
{
	char text[512];
	snprintf(text, sizeof(text), "key \"%s\" { algorithm %s; secret \"%s\"; };", name,
			alg == TSIG_HMAC_SHA256 ? "hmac-sha256" : "hmac-sha512",
			alg == TSIG_HMAC_SHA256 ? tv_secret_256 : tv_secret_512);
	char err[256];
	int rc;
	struct tsig_keyring *kr = parse(text, err, sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	return kr;
}

static void vector_check(
		enum tsig_alg alg, const uint8_t *q, size_t qlen, const uint8_t *r, size_t rlen)
{
	struct tsig_keyring *kr = vector_ring(alg, "xfr-key.example.");
	struct tsig_state st;
	cr_assert_eq(tsig_request_verify(kr, q, qlen, TV_TIME + 299, &st), TSIG_OK);
	cr_expect_eq(st.key, &kr->keys[0]);
	cr_expect_eq(st.orig_id, 0x1234);
	cr_expect_eq(st.time_signed, TV_TIME);
	cr_expect_eq(st.mac_len, alg == TSIG_HMAC_SHA256 ? 32 : 64);

	/* dnspython's signed answer, with its TSIG RR taken off, signed by us
	 * at the same time: the same octets. */
	size_t tlen = tsig_size(&st);
	uint8_t msg[512];
	memcpy(msg, r, rlen - tlen);
	msg[11]--; /* ARCOUNT */
	size_t len = rlen - tlen;
	cr_assert_eq(tsig_request_verify(kr, q, qlen, TV_TIME, &st), TSIG_OK);
	cr_assert_eq(tsig_response_sign(&st, msg, &len, sizeof(msg), TV_TIME), 0);
	cr_assert_eq(len, rlen);
	cr_expect_eq(memcmp(msg, r, rlen), 0, "our signature differs from dnspython's");

	/* The answer verifies as a client's (the request MAC is dnspython's). */
	struct tsig_state cl;
	cr_assert_eq(tsig_request_verify(kr, q, qlen, TV_TIME, &cl), TSIG_OK);
	cr_expect_eq(tsig_response_verify(&cl, r, rlen, TV_TIME + 10), TSIG_OK);

	/* Out of the fudge either way: BADTIME, after the MAC checked out. */
	cr_expect_eq(tsig_request_verify(kr, q, qlen, TV_TIME + 301, &st), TSIG_FAIL);
	cr_expect_eq(st.error, TSIG_BADTIME);
	cr_expect_eq(tsig_request_verify(kr, q, qlen, TV_TIME - 301, &st), TSIG_FAIL);
	cr_expect_eq(st.error, TSIG_BADTIME);
	/* One octet of the question changed: BADSIG. */
	uint8_t bad[512];
	memcpy(bad, q, qlen);
	bad[14] ^= 0x20;
	cr_expect_eq(tsig_request_verify(kr, bad, qlen, TV_TIME, &st), TSIG_FAIL);
	cr_expect_eq(st.error, TSIG_BADSIG);
	/* A key of another name, or the same name with another algorithm: BADKEY. */
	struct tsig_keyring *other = vector_ring(alg, "other-key.example.");
	cr_expect_eq(tsig_request_verify(other, q, qlen, TV_TIME, &st), TSIG_FAIL);
	cr_expect_eq(st.error, TSIG_BADKEY);
	cr_expect_null(st.key);
	struct tsig_keyring *alg2 =
			vector_ring(alg == TSIG_HMAC_SHA256 ? TSIG_HMAC_SHA512 : TSIG_HMAC_SHA256,
					"xfr-key.example.");
	cr_expect_eq(tsig_request_verify(alg2, q, qlen, TV_TIME, &st), TSIG_FAIL);
	cr_expect_eq(st.error, TSIG_BADKEY);
	cr_expect_eq(tsig_request_verify(NULL, q, qlen, TV_TIME, &st), TSIG_FAIL);
	cr_expect_eq(st.error, TSIG_BADKEY);
	tsig_keyring_free(alg2);
	tsig_keyring_free(other);
	tsig_keyring_free(kr);
}

Test(tsig, dnspython_hmac_sha256)
{
	vector_check(TSIG_HMAC_SHA256, tv_query_256, sizeof(tv_query_256), tv_response_256,
			sizeof(tv_response_256));
}

Test(tsig, dnspython_hmac_sha512)
{
	vector_check(TSIG_HMAC_SHA512, tv_query_512, sizeof(tv_query_512), tv_response_512,
			sizeof(tv_response_512));
}

Test(tsig, a_wrong_secret_is_badsig)
{
	const char *text = "key \"xfr-key.example.\" { algorithm hmac-sha256; secret \"AAEC\"; };";
	char err[256];
	int rc;
	struct tsig_keyring *kr = parse(text, err, sizeof(err), &rc);
	cr_assert_eq(rc, 0);
	struct tsig_state st;
	cr_expect_eq(tsig_request_verify(kr, tv_query_256, sizeof(tv_query_256), TV_TIME, &st),
			TSIG_FAIL);
	cr_expect_eq(st.error, TSIG_BADSIG);
	tsig_keyring_free(kr);
}

/* Truncated TSIG messages: never OK, never a read past the end (ASan). */
Test(tsig, every_truncation_is_formerr_or_fail)
{
	struct tsig_keyring *kr = vector_ring(TSIG_HMAC_SHA256, "xfr-key.example.");
	struct tsig_state st;
	for (size_t n = 0; n < sizeof(tv_query_256); n++) {
		uint8_t m[sizeof(tv_query_256)];
		memcpy(m, tv_query_256, n);
		cr_expect_neq(tsig_request_verify(kr, m, n, TV_TIME, &st), TSIG_OK, "%zu octets",
				n);
	}
	tsig_keyring_free(kr);
}

/* ---- round trips ------------------------------------------------------------- */

static struct tsig_keyring *ring2(void)
{
	const char *text = "key a.example { algorithm hmac-sha256; secret \"c2VjcmV0LWEK\"; };\n"
			   "key b.example { algorithm hmac-sha512; secret \"c2VjcmV0LWIK\"; };";
	char err[256];
	int rc;
	struct tsig_keyring *kr = parse(text, err, sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	return kr;
}

/* A NOTIFY-like request signed by a client, verified by a server, and a
 * three-message answer signed by the server and verified by the client:
 * each message covers the previous MAC (RFC 8945 5.3.1). */
Test(tsig, request_and_multi_message_answer_round_trip)
{
	struct tsig_keyring *kr = ring2();
	for (size_t k = 0; k < kr->n; k++) {
		uint8_t q[512];
		size_t qlen = answer_test_query(q, ENGINE_ZONE, DNSWIRE_SOA, 0);
		struct tsig_state cl, sv;
		cr_assert_eq(tsig_request_sign(&kr->keys[k], &cl, q, &qlen, sizeof(q), 5000), 0);
		cr_expect_eq(dnswire_get16(q + 10), 1, "ARCOUNT");
		cr_assert_eq(tsig_request_verify(kr, q, qlen, 5100, &sv), TSIG_OK);
		cr_expect_eq(sv.key, &kr->keys[k]);
		uint8_t msgs[3][600];
		size_t lens[3];
		size_t qend = 12 + ENGINE_ZONE_WIRE + 4;
		for (int i = 0; i < 3; i++) {
			/* The question, and a TXT record of its own per message. */
			memcpy(msgs[i], q, qend);
			msgs[i][2] |= 0x84;
			memset(msgs[i] + 6, 0, 6);
			msgs[i][7] = 1;
			const uint8_t txt[] = {0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 0, 0, 2, 1,
					(uint8_t)('a' + i)};
			memcpy(msgs[i] + qend, txt, sizeof(txt));
			lens[i] = qend + sizeof(txt);
			cr_assert_eq(tsig_response_sign(
						     &sv, msgs[i], &lens[i], sizeof(msgs[i]), 5100),
					0);
		}
		struct tsig_state c2 = cl;
		for (int i = 0; i < 3; i++) {
			cr_expect_eq(tsig_response_verify(&cl, msgs[i], lens[i], 5200), TSIG_OK,
					"message %d", i);
		}
		/* Out of order: the second message does not follow the request. */
		cr_expect_eq(tsig_response_verify(&c2, msgs[1], lens[1], 5200), TSIG_FAIL);
		cr_expect_eq(c2.error, TSIG_BADSIG);
		/* The client's clock too far off from the answer's time. */
		uint8_t a[600];
		size_t al = 12;
		memcpy(a, q, 12);
		a[2] |= 0x80;
		memset(a + 4, 0, 8);
		cr_assert_eq(tsig_request_verify(kr, q, qlen, 5000, &sv), TSIG_OK);
		cr_assert_eq(tsig_response_sign(&sv, a, &al, sizeof(a), 5000), 0);
		cr_expect_eq(tsig_response_verify(&c2, a, al, 5000 + 301), TSIG_FAIL);
		cr_expect_eq(c2.error, TSIG_BADTIME);
	}
	tsig_keyring_free(kr);
}

/* What the client checks before the MAC: a state without a key or a
 * reply without a TSIG RR is FORMERR, another key's name or algorithm is
 * BADKEY; a message shorter than a header, or longer than its room, is
 * not signed. */
Test(tsig, response_checks_before_the_mac)
{
	struct tsig_keyring *kr = ring2();
	uint8_t q[512];
	size_t qlen = answer_test_query(q, ENGINE_ZONE, DNSWIRE_SOA, 0);
	struct tsig_state cl, sv;
	cr_assert_eq(tsig_request_sign(&kr->keys[0], &cl, q, &qlen, sizeof(q), 5000), 0);
	cr_assert_eq(tsig_request_verify(kr, q, qlen, 5000, &sv), TSIG_OK);
	uint8_t a[600];
	memcpy(a, q, 12);
	a[2] |= 0x80;
	memset(a + 4, 0, 8);
	size_t al = 12;
	cr_assert_eq(tsig_response_sign(&sv, a, &al, sizeof(a), 5000), 0);
	struct tsig_state none = cl;
	none.key = NULL;
	cr_expect_eq(tsig_response_verify(&none, a, al, 5000), TSIG_FORMERR);
	struct tsig_state other = cl;
	other.key = &kr->keys[1];
	cr_expect_eq(tsig_response_verify(&other, a, al, 5000), TSIG_FAIL);
	cr_expect_eq(other.error, TSIG_BADKEY);
	struct tsig_state plain = cl;
	cr_expect_eq(tsig_response_verify(&plain, a, 12, 5000), TSIG_FORMERR, "no TSIG RR");
	cr_expect_eq(tsig_response_verify(&cl, a, al, 5000), TSIG_OK, "the reply as sent");
	size_t l = 11;
	cr_expect_eq(tsig_response_sign(&sv, a, &l, sizeof(a), 5000), RS_ENOSPC, "no header");
	l = 40;
	cr_expect_eq(tsig_response_sign(&sv, a, &l, 30, 5000), RS_ENOSPC, "past its room");
	l = 11;
	cr_expect_eq(tsig_request_sign(&kr->keys[0], &cl, q, &l, sizeof(q), 1), RS_ENOSPC);
	tsig_keyring_free(kr);
}

/* No room for the TSIG RR: RS_ENOSPC, the message unchanged. */
Test(tsig, no_room_is_enospc)
{
	struct tsig_keyring *kr = ring2();
	uint8_t q[512];
	size_t qlen = answer_test_query(q, ENGINE_ZONE, DNSWIRE_SOA, 0);
	size_t before = qlen;
	struct tsig_state st;
	cr_expect_eq(tsig_request_sign(&kr->keys[0], &st, q, &qlen, qlen + 10, 1), RS_ENOSPC);
	cr_expect_eq(qlen, before);
	cr_expect_eq(dnswire_get16(q + 10), 0);
	tsig_keyring_free(kr);
}

/* BADKEY and BADSIG answers carry an unsigned TSIG RR with the error;
 * BADTIME is signed, with our time in Other Data; the client sees each. */
Test(tsig, error_answers)
{
	struct tsig_keyring *kr = ring2();
	/* The server's keys: for BADKEY none named b.example; for BADSIG an
	 * a.example with another secret; for BADTIME the client's. */
	struct tsig_keyring *servers[3] = {vector_ring(TSIG_HMAC_SHA256, "c.example"),
			vector_ring(TSIG_HMAC_SHA256, "a.example"), kr};
	uint16_t want[3] = {TSIG_BADKEY, TSIG_BADSIG, TSIG_BADTIME};
	for (int i = 0; i < 3; i++) {
		uint8_t q[512];
		size_t qlen = answer_test_query(q, ENGINE_ZONE, DNSWIRE_SOA, 0);
		const struct tsig_key *k = i == 0 ? &kr->keys[1] : &kr->keys[0];
		struct tsig_state cl, sv;
		cr_assert_eq(tsig_request_sign(k, &cl, q, &qlen, sizeof(q), 10000), 0);
		const struct tsig_keyring *server = servers[i];
		uint64_t now = i == 2 ? 10000 + 400 : 10000;
		cr_assert_eq(tsig_request_verify(server, q, qlen, now, &sv), TSIG_FAIL);
		cr_assert_eq(sv.error, want[i]);
		uint8_t a[600];
		memcpy(a, q, 12);
		a[2] |= 0x80;
		a[3] = 9; /* NOTAUTH */
		memset(a + 4, 0, 8);
		size_t al = 12;
		cr_assert_eq(tsig_response_sign(&sv, a, &al, sizeof(a), now), 0);
		/* The RR: MAC size after the algorithm and the timers. */
		size_t name = k->wire_len;
		const uint8_t *rd = a + 12 + name + 10;
		size_t mac = dnswire_get16(rd + 13 + 8);
		cr_expect_eq(mac, i == 2 ? 32 : 0, "case %d: MAC size %zu", i, mac);
		uint16_t err = dnswire_get16(rd + 13 + 10 + mac + 2);
		cr_expect_eq(err, want[i]);
		if (i == 2) {
			cr_expect_eq(dnswire_get16(rd + 13 + 10 + mac + 4), 6, "Other Len");
			cr_expect_eq(rs_wire_load_u32(rd + 13 + 10 + mac + 8), 10400, "our time");
			cr_expect_eq(rs_wire_load_u32(rd + 13 + 2), 10000, "the request's time");
		}
		cr_expect_eq(tsig_response_verify(&cl, a, al, 10000), TSIG_FAIL);
		cr_expect_eq(cl.error, want[i], "case %d: client saw %u", i, cl.error);
	}
	tsig_keyring_free(servers[0]);
	tsig_keyring_free(servers[1]);
	tsig_keyring_free(kr);
}

/* ---- the answer engine (answer_tsig.c) ---------------------------------------- */

#define NOW 5000u

static struct engine_fixture fx;
static struct tsig_keyring *keys;    /* a.example (the transfer key), b.example */
static struct tsig_keyring *strange; /* c.example: unknown to the engine */
static struct rs_prefix allow[1];

static void engine_setup(void)
{
	keys = ring2();
	strange = vector_ring(TSIG_HMAC_SHA256, "c.example");
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	cr_assert_eq(rs_prefix_parse("192.0.2.0/24", &allow[0]), 0);
	cfg.xfr_allow = allow;
	cfg.nxfr_allow = 1;
	cfg.tsig_keys = keys;
	cfg.xfr_key = &keys->keys[0];
	cr_assert_eq(engine_fixture_open(&fx, &cfg, false), 0);
	cr_assert_eq(engine_fixture_zone(&fx, &cfg, 1000), 0);
}

static void engine_teardown(void)
{
	engine_fixture_close(&fx);
	tsig_keyring_free(keys);
	tsig_keyring_free(strange);
}

static struct answer_result ask(const uint8_t *q, size_t len, enum answer_transport t,
		const char *from, uint8_t *out, size_t outcap)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(5353)};
	inet_pton(AF_INET, from, &sin.sin_addr);
	struct answer_client c = {t, (struct sockaddr *)&sin, 0, NOW};
	struct answer_result res;
	answer_process(fx.an, q, len, &c, 5000, out, outcap, &res);
	return res;
}

/* A query for @p name/@p qtype signed with @p key at @p when (unsigned
 * when NULL); @p st set up to verify the answer. */
static size_t signed_query(uint8_t *q, const char *name, uint16_t qtype, const struct tsig_key *key,
		uint64_t when, struct tsig_state *st)
{
	size_t len = answer_test_query(q, name, qtype, 1232);
	if (key != NULL) {
		cr_assert_eq(tsig_request_sign(key, st, q, &len, 600, when), 0);
	}
	return len;
}

static uint64_t xfr_count(enum answer_xfr_result r)
{
	return answer_counters_get(fx.an)->transfers[ANSWER_XFR_AXFR][r];
}

static void reg_many(int services)
{
	for (int i = 0; i < services; i++) {
		char svc[32], host[64], addr[32];
		snprintf(svc, sizeof(svc), "svc%d", i);
		for (int j = 0; j < 4; j++) {
			snprintf(host, sizeof(host), "host-%d-%d.lon6.example.net", i, j);
			snprintf(addr, sizeof(addr), "10.%d.%d.1", i, j);
			answer_test_register(fx.st, svc, "tcp", host, 8000, addr, 10,
					STORE_STATUS_UP, 0);
		}
	}
}

/* A signed query of any key the engine holds is answered signed (the SOA
 * refresh query of an NSD, Knot or BIND secondary), over UDP and TCP. */
Test(tsig_engine, signed_queries_get_signed_answers, .init = engine_setup, .fini = engine_teardown)
{
	for (int t = 0; t < 2; t++) {
		for (size_t k = 0; k < keys->n; k++) {
			uint8_t q[600], out[65535];
			struct tsig_state cl;
			size_t len = signed_query(
					q, ENGINE_ZONE, DNSWIRE_SOA, &keys->keys[k], NOW, &cl);
			struct answer_result r = ask(q, len, (enum answer_transport)t,
					"198.51.100.9", out, sizeof(out));
			cr_assert_eq(r.action, ANSWER_SEND);
			cr_expect_eq(r.rcode, DNSWIRE_NOERROR);
			cr_expect_eq(dnswire_get16(out + 6), 1, "the SOA");
			cr_expect_eq(tsig_response_verify(&cl, out, r.len, NOW), TSIG_OK,
					"key %zu over %s", k, t ? "TCP" : "UDP");
		}
	}
	/* An unknown key: NOTAUTH, BADKEY, no answer records. */
	uint8_t q[600], out[4096];
	struct tsig_state cl;
	size_t len = signed_query(q, ENGINE_ZONE, DNSWIRE_SOA, &strange->keys[0], NOW, &cl);
	struct answer_result r = ask(q, len, ANSWER_UDP, "192.0.2.1", out, sizeof(out));
	cr_expect_eq(r.rcode, DNSWIRE_NOTAUTH);
	cr_expect_eq(dnswire_get16(out + 6), 0);
	cr_expect_eq(tsig_response_verify(&cl, out, r.len, NOW), TSIG_FAIL);
	cr_expect_eq(cl.error, TSIG_BADKEY);
	cr_expect_not(r.xfr_refused, "a query, not a transfer");
	/* Unsigned queries are answered unsigned. */
	len = signed_query(q, ENGINE_ZONE, DNSWIRE_SOA, NULL, NOW, &cl);
	r = ask(q, len, ANSWER_UDP, "192.0.2.1", out, sizeof(out));
	cr_expect_eq(r.rcode, DNSWIRE_NOERROR);
	cr_expect_eq(dnswire_get16(out + 10), 1, "the OPT alone");
}

/* A signed answer too large for the client's UDP size: TC=1, the question
 * alone, signed (RFC 8945 5.3), within the size. */
Test(tsig_engine, a_signed_udp_answer_that_does_not_fit_is_truncated_and_signed,
		.init = engine_setup, .fini = engine_teardown)
{
	for (int j = 0; j < 40; j++) {
		char host[64], addr[32];
		snprintf(host, sizeof(host), "host-%d.lon6.example.net", j);
		snprintf(addr, sizeof(addr), "10.0.%d.1", j);
		answer_test_register(fx.st, "web", "tcp", host, 8000, addr, 10, STORE_STATUS_UP, 0);
	}
	uint8_t q[600], out[4096];
	struct tsig_state cl;
	size_t len = answer_test_query(q, "_web._tcp." ENGINE_ZONE, DNSWIRE_SRV, 0);
	cr_assert_eq(tsig_request_sign(&keys->keys[1], &cl, q, &len, sizeof(q), NOW), 0);
	struct answer_result r = ask(q, len, ANSWER_UDP, "192.0.2.1", out, sizeof(out));
	cr_assert_eq(r.action, ANSWER_SEND);
	cr_expect_leq(r.len, 512u);
	cr_expect(dnswire_get16(out + 2) & DNSWIRE_TC);
	cr_expect_eq(tsig_response_verify(&cl, out, r.len, NOW), TSIG_OK);
}

/* --xfr-key: every way to be refused, each counted by its reason and said
 * in the result for the log. */
Test(tsig_engine, transfer_refusals, .init = engine_setup, .fini = engine_teardown)
{
	reg_many(2);
	struct {
		const char *what;
		const char *from;
		const struct tsig_key *key;
		uint64_t when;
		uint16_t rcode;
		enum answer_xfr_result why;
		uint16_t tsig_error; /* the answer's, as the client sees it; 0: unsigned */
	} cases[] = {
			{"unsigned", "192.0.2.7", NULL, NOW, DNSWIRE_REFUSED,
					ANSWER_XFR_REFUSED_UNSIGNED, 0},
			{"another key", "192.0.2.7", &keys->keys[1], NOW, DNSWIRE_REFUSED,
					ANSWER_XFR_REFUSED_KEY, TSIG_NOERROR},
			{"unknown key", "192.0.2.7", &strange->keys[0], NOW, DNSWIRE_NOTAUTH,
					ANSWER_XFR_BADKEY, TSIG_BADKEY},
			{"old signature", "192.0.2.7", &keys->keys[0], NOW - 301, DNSWIRE_NOTAUTH,
					ANSWER_XFR_BADTIME, TSIG_BADTIME},
			{"outside the ACL (the refusal signed)", "198.51.100.1", &keys->keys[0],
					NOW, DNSWIRE_REFUSED, ANSWER_XFR_REFUSED_ACL, TSIG_NOERROR},
			{"outside the ACL, unknown key", "198.51.100.1", &strange->keys[0], NOW,
					DNSWIRE_REFUSED, ANSWER_XFR_REFUSED_ACL, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t q[600], out[65535];
		struct tsig_state cl;
		size_t len = signed_query(
				q, ENGINE_ZONE, DNSWIRE_AXFR, cases[i].key, cases[i].when, &cl);
		uint64_t before = xfr_count(cases[i].why);
		struct answer_result r = ask(q, len, ANSWER_TCP, cases[i].from, out, sizeof(out));
		cr_assert_eq(r.action, ANSWER_SEND, "%s", cases[i].what);
		cr_expect_eq(r.rcode, cases[i].rcode, "%s: rcode %u", cases[i].what, r.rcode);
		cr_expect_eq(xfr_count(cases[i].why), before + 1, "%s: counted", cases[i].what);
		cr_expect(r.xfr_refused, "%s", cases[i].what);
		cr_expect_eq(r.xfr_reason, cases[i].why, "%s", cases[i].what);
		cr_expect_eq(dnswire_get16(out + 6), 0, "%s: no records", cases[i].what);
		if (cases[i].key != NULL && cases[i].tsig_error != 0) {
			cr_expect_eq(tsig_response_verify(&cl, out, r.len, cases[i].when),
					TSIG_FAIL);
			cr_expect_eq(cl.error, cases[i].tsig_error, "%s", cases[i].what);
		} else if (cases[i].key != NULL && cases[i].key != &strange->keys[0]) {
			cr_expect_eq(tsig_response_verify(&cl, out, r.len, NOW), TSIG_OK,
					"%s: a refusal signed", cases[i].what);
		} else {
			cr_expect_eq(dnswire_get16(out + 10), 1, "%s: unsigned (the OPT alone)",
					cases[i].what);
		}
	}
	/* A bad MAC: one octet of the signed question changed. */
	uint8_t q[600], out[4096];
	struct tsig_state cl;
	size_t len = signed_query(q, ENGINE_ZONE, DNSWIRE_AXFR, &keys->keys[0], NOW, &cl);
	q[2] ^= 0x01; /* RD */
	struct answer_result r = ask(q, len, ANSWER_TCP, "192.0.2.7", out, sizeof(out));
	cr_expect_eq(r.rcode, DNSWIRE_NOTAUTH);
	cr_expect_eq(r.xfr_reason, ANSWER_XFR_BADSIG);
	cr_expect_eq(xfr_count(ANSWER_XFR_BADSIG), 1);
	cr_expect_str_eq(answer_xfr_result_name(ANSWER_XFR_BADSIG), "badsig");
	cr_expect_str_eq(answer_xfr_result_name(ANSWER_XFR_REFUSED_UNSIGNED), "refused_unsigned");
}

/* A transfer in many messages: each one signed, each verifying in turn as a
 * secondary verifies it (RFC 8945 5.3.1), none over the message size. */
Test(tsig_engine, every_message_of_a_transfer_is_signed, .init = engine_setup,
		.fini = engine_teardown)
{
	reg_many(60);
	bool published;
	cr_assert_eq(xfr_zone_publish(fx.zone, 2000, &published), 0);
	cr_assert(published);
	uint8_t q[600], out[65535];
	struct tsig_state cl;
	size_t len = signed_query(q, ENGINE_ZONE, DNSWIRE_AXFR, &keys->keys[0], NOW, &cl);
	struct answer_result r = ask(q, len, ANSWER_TCP, "192.0.2.7", out, sizeof(out));
	cr_assert_eq(r.action, ANSWER_TRANSFER);
	struct rs_buf b;
	rs_buf_init(&b);
	struct xfr_result xr;
	cr_assert_eq(xfr_write(fx.an, fx.zone, q, 2048, &b, &xr), 0);
	cr_assert_gt(xr.messages, 10u);
	uint32_t n = 0;
	for (size_t off = 0; off < b.len; n++) {
		const uint8_t *m = (const uint8_t *)b.data + off + 2;
		size_t mlen = dnswire_get16((const uint8_t *)b.data + off);
		cr_assert_leq(mlen, 2048u);
		cr_assert_eq(tsig_response_verify(&cl, m, mlen, NOW + 1), TSIG_OK, "message %u", n);
		off += 2 + mlen;
	}
	cr_expect_eq(n, xr.messages);
	rs_buf_deinit(&b);

	/* A signed IXFR over UDP: our SOA alone, signed. */
	len = answer_test_query(q, ENGINE_ZONE, DNSWIRE_IXFR, 0);
	q[9] = 1; /* NSCOUNT: the client's SOA, serial 1 */
	const uint8_t soa[12 + 22] = {0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 22, 0, 0, 0, 0, 0, 1};
	memcpy(q + len, soa, sizeof(soa));
	len += sizeof(soa);
	cr_assert_eq(tsig_request_sign(&keys->keys[0], &cl, q, &len, sizeof(q), NOW), 0);
	r = ask(q, len, ANSWER_UDP, "192.0.2.7", out, 4096);
	cr_assert_eq(r.action, ANSWER_SEND);
	cr_expect_eq(r.rcode, DNSWIRE_NOERROR);
	cr_expect_eq(dnswire_get16(out + 6), 1);
	cr_expect_eq(tsig_response_verify(&cl, out, r.len, NOW), TSIG_OK);
}

/* Cut the MAC of a signed message @p q of @p *len octets (signed with
 * @p alg, the last record its TSIG RR, no Other Data) to @p keep octets,
 * as a client truncating its MAC (RFC 8945 5.2.2.1) would send it. */
static void mac_cut(uint8_t *q, size_t *len, enum tsig_alg alg, size_t keep)
{
	size_t full = alg == TSIG_HMAC_SHA256 ? 32 : 64;
	size_t alg_wire = 13; /* hmac-sha256. and hmac-sha512. */
	size_t rdata = *len - (alg_wire + 10 + full + 6);
	size_t mac = *len - 6 - full;
	cr_assert_eq(dnswire_get16(q + mac - 2), full, "the MAC length where it should be");
	dnswire_set16(q + mac - 2, (uint16_t)keep);
	memmove(q + mac + keep, q + mac + full, 6);
	dnswire_set16(q + rdata - 2, (uint16_t)(dnswire_get16(q + rdata - 2) - (full - keep)));
	*len -= full - keep;
}

/* A transfer signed with a truncated MAC: a valid truncation that is not
 * the full MAC is BADTRUNC (we accept only full MACs, RFC 8945 5.2.4), one
 * shorter than half the MAC and 10 octets is FORMERR (5.2.2.1); each is
 * counted by its own reason. A truncated MAC that is wrong is BADSIG. */
Test(tsig_engine, truncated_macs, .init = engine_setup, .fini = engine_teardown)
{
	const struct tsig_key *k = &keys->keys[0]; /* the transfer key, SHA-256 */
	struct {
		size_t keep;
		bool spoil;
		uint16_t rcode;
		enum answer_xfr_result why;
		uint16_t tsig_error;
	} cases[] = {
			{16, false, DNSWIRE_NOTAUTH, ANSWER_XFR_BADTRUNC, TSIG_BADTRUNC},
			{31, false, DNSWIRE_NOTAUTH, ANSWER_XFR_BADTRUNC, TSIG_BADTRUNC},
			{16, true, DNSWIRE_NOTAUTH, ANSWER_XFR_BADSIG, TSIG_BADSIG},
			{15, false, DNSWIRE_FORMERR, ANSWER_XFR_FORMERR, 0},
			{8, false, DNSWIRE_FORMERR, ANSWER_XFR_FORMERR, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t q[600], out[4096];
		struct tsig_state cl;
		size_t len = signed_query(q, ENGINE_ZONE, DNSWIRE_AXFR, k, NOW, &cl);
		mac_cut(q, &len, k->alg, cases[i].keep);
		if (cases[i].spoil) {
			q[len - 7] ^= 1; /* the last octet of the MAC kept */
		}
		uint64_t before = xfr_count(cases[i].why);
		struct answer_result r = ask(q, len, ANSWER_TCP, "192.0.2.1", out, sizeof(out));
		cr_assert_eq(r.action, ANSWER_SEND, "case %zu", i);
		cr_expect_eq(r.rcode, cases[i].rcode, "case %zu: rcode %u", i, r.rcode);
		cr_expect(r.xfr_refused, "case %zu", i);
		cr_expect_eq(r.xfr_reason, cases[i].why, "case %zu: reason %u", i, r.xfr_reason);
		cr_expect_eq(xfr_count(cases[i].why), before + 1, "case %zu: counted", i);
		cr_expect_eq(dnswire_get16(out + 6), 0, "case %zu: no records", i);
		if (cases[i].tsig_error != 0) {
			/* our TSIG RR carries the error (5.2.2: BADTRUNC signed,
			 * BADSIG without a MAC) */
			cr_expect_eq(dnswire_get16(out + 10), 2, "case %zu: OPT and TSIG", i);
			cr_expect_eq(dnswire_get16(out + r.len - 4), cases[i].tsig_error,
					"case %zu", i);
		}
	}
	cr_expect_str_eq(answer_xfr_result_name(ANSWER_XFR_BADTRUNC), "badtrunc");
	cr_expect_str_eq(answer_xfr_result_name(ANSWER_XFR_RESULTS), "?");
}

/* A signed reply that passes the client's UDP size once the TSIG RR is on
 * it (a long key name and SHA-512 make that RR 300 octets) is sent as the
 * header and the question with TC=1, signed (RFC 8945 5.3); when even that
 * does not fit, nothing is sent and the drop is counted. */
Test(tsig_engine, signed_reply_too_large_for_udp_truncated_or_dropped)
{
	char name[256] = "";
	for (int i = 0; i < 4; i++) {
		strcat(name, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk."); /* 48 */
	}
	strcat(name, "example"); /* 199 octets in wire form, 200 with the root */
	char text[512];
	snprintf(text, sizeof(text), "key \"%s\" { algorithm hmac-sha512; secret \"c2VjcmV0\"; };",
			name);
	char err[256];
	int rc;
	keys = parse(text, err, sizeof(err), &rc);
	cr_assert_eq(rc, 0, "%s", err);
	strange = NULL;
	struct answer_config cfg;
	engine_fixture_config(&cfg);
	cfg.tsig_keys = keys;
	cr_assert_eq(engine_fixture_open(&fx, &cfg, false), 0);
	const struct tsig_key *k = &keys->keys[0];
	size_t tsig_rr = k->wire_len + 103u; /* name, fixed part, SHA-512 RDATA */
	cr_assert_gt(tsig_rr, 290u);
	/* Questions outside our zones (REFUSED: header, question, an OPT of
	 * 11 octets; the query's OPT says 512), @p slack octets under 512
	 * without the reply's OPT. */
	static const int slacks[] = {40, 11, 10, 1, 0, -1, -30};
	for (size_t i = 0; i < sizeof(slacks) / sizeof(slacks[0]); i++) {
		int slack = slacks[i];
		size_t qwire = (size_t)(512 - (int)tsig_rr - 16 - slack);
		char qname[300] = "";
		size_t w = 1; /* the root */
		while (w < qwire) {
			size_t rem = qwire - w;
			size_t l = rem - 1 > 40 ? 40 : rem - 1;
			if (rem - 1 - l == 1) {
				l--; /* never leave room for a label of nothing */
			}
			size_t at = strlen(qname);
			memset(qname + at, 'q', l);
			qname[at + l] = '.';
			qname[at + l + 1] = '\0';
			w += 1 + l;
		}
		cr_assert_eq(w, qwire, "slack %d", slack);
		uint8_t q[1024], out[4096];
		struct tsig_state cl;
		size_t len = answer_test_query(q, qname, DNSWIRE_A, 512);
		size_t question_end = 12 + qwire + 4;
		cr_assert_eq(tsig_request_sign(k, &cl, q, &len, sizeof(q), NOW), 0);
		uint64_t dropped = answer_counters_get(fx.an)->dropped;
		struct answer_result r = ask(q, len, ANSWER_UDP, "192.0.2.1", out, sizeof(out));
		if (slack < 0) {
			cr_expect_eq(r.action, ANSWER_DROP, "slack %d", slack);
			cr_expect_eq(answer_counters_get(fx.an)->dropped, dropped + 1);
			continue;
		}
		cr_assert_eq(r.action, ANSWER_SEND, "slack %d", slack);
		cr_expect_leq(r.len, 512u, "slack %d", slack);
		cr_expect_eq(dnswire_get16(out + 2) & 0xf, DNSWIRE_REFUSED);
		cr_expect_eq(tsig_response_verify(&cl, out, r.len, NOW), TSIG_OK, "slack %d",
				slack);
		bool whole = slack >= 11;
		cr_expect_eq(r.truncated, !whole, "slack %d", slack);
		cr_expect_eq(!!(dnswire_get16(out + 2) & DNSWIRE_TC), !whole, "slack %d", slack);
		cr_expect_eq(r.len, question_end + tsig_rr + (whole ? 11u : 0u), "slack %d", slack);
		cr_expect_eq(dnswire_get16(out + 4), 1, "slack %d: the question stays", slack);
	}
	engine_fixture_close(&fx);
	tsig_keyring_free(keys);
}
