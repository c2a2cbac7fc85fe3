/*
 * The API's token file (server/api/tokens.h): every malformed line refused
 * with its line number, good files parsed, lookups by digest, and what each
 * scope allows.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "server/api/tokens.h"

#define HEX64 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define HEX64_OTHER "16175223c8ddce5ace0493c948569c211b03c4c6bb3d3e484434999448cffe01"

/* Arrays, not pointers: criterion runs each case in a fresh process. */
struct bad_case {
	char text[200];
	char want[80]; /* a part of the message */
};

ParameterizedTestParameters(tokens, bad_lines_are_refused_with_their_line)
{
	static struct bad_case cases[] = {
			{"a", "line 1: expected <name>"},
			{"a sha256:" HEX64, "line 1: expected <name>"},
			{"a sha256:" HEX64 " read extra", "line 1: more than three fields"},
			{"# c\n\na md5:" HEX64 " read", "line 3: the second field must be sha256"},
			{"a sha256:abc read", "line 1: the second field must be sha256"},
			{"a sha256:" HEX64 "00 read", "line 1: the second field must be sha256"},
			{"a sha256:9g86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 read",
					"line 1: the second field must be sha256"},
			{"a sha256:" HEX64 " root", "line 1: unknown scope 'root'"},
			{"a sha256:" HEX64 " read,", "line 1: empty scope"},
			{"a sha256:" HEX64 " ,read", "line 1: empty scope"},
			{"a sha256:" HEX64 " write:", "line 1: unknown scope 'write:'"},
			{"a sha256:" HEX64 " write:we/b",
					"line 1: bad character 0x2f in service glob"},
			{"a sha256:" HEX64 " Read", "line 1: unknown scope 'Read'"},
			{"a/b sha256:" HEX64 " read",
					"line 1: bad character 0x2f in the token name"},
			{"a sha256:" HEX64 " read\na sha256:"
			 "0000000000000000000000000000000000000000000000000000000000000000 read",
					"line 2: token name 'a' used twice"},
			{"a sha256:" HEX64 " read\nb sha256:" HEX64 " admin",
					"line 2: token 'b' has the same hash as 'a'"},
			{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa sha256:" HEX64
			 " read",
					"line 1: token name longer than 64"},
	};
	return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, tokens, bad_lines_are_refused_with_their_line)
{
	struct api_tokens *t = (struct api_tokens *)1;
	char err[256] = "";
	cr_assert_eq(api_tokens_parse(c->text, strlen(c->text), &t, err, sizeof(err)), RS_ECONF,
			"%s", c->text);
	cr_expect_null(t);
	cr_expect(strstr(err, c->want) != NULL, "'%s': got '%s', want '%s'", c->text, err, c->want);
}

Test(tokens, a_nul_byte_is_refused)
{
	static const char text[] = "a sha256:" HEX64 " re\0ad\n";
	struct api_tokens *t = NULL;
	char err[256];
	cr_assert_eq(api_tokens_parse(text, sizeof(text) - 1, &t, err, sizeof(err)), RS_ECONF);
	cr_expect(strstr(err, "line 1: a NUL byte") != NULL, "%s", err);
}

static struct api_tokens *parse_ok(const char *text)
{
	struct api_tokens *t = NULL;
	char err[256] = "";
	cr_assert_eq(api_tokens_parse(text, strlen(text), &t, err, sizeof(err)), 0, "%s", err);
	return t;
}

static const struct api_token *lookup(const struct api_tokens *t, const char *secret)
{
	uint8_t d[API_TOKEN_DIGEST];
	api_tokens_digest(secret, strlen(secret), d);
	return api_tokens_find(t, d);
}

Test(tokens, a_good_file_parses_and_tokens_are_found_by_their_hash)
{
	/* sha256("test") = HEX64. */
	struct api_tokens *t = parse_ok("# fleet tokens\r\n\n   \n"
					"ci sha256:" HEX64 " write:web*,write:DB,read\r\n"
					"  # indented comment\n"
					"root\tsha256:" HEX64_OTHER "\tadmin");
	cr_assert_eq(t->n, 2);
	const struct api_token *ci = lookup(t, "test");
	cr_assert_not_null(ci);
	cr_expect_str_eq(ci->name, "ci");
	cr_expect_eq(ci->nglobs, 2);
	cr_expect_str_eq(ci->globs[1], "db"); /* lower-cased */
	cr_expect_null(lookup(t, "Test"));
	cr_expect_null(lookup(t, ""));
	const struct api_token *root = lookup(t, "admin-secret");
	cr_assert_not_null(root);
	cr_expect_str_eq(root->name, "root");
	api_tokens_free(t);
}

/* A lease's owner is its token's tag: never 0 (no owner), one per name,
 * the same for the same name whatever its hash or scopes, so a reloaded
 * file keeps the leases its tokens opened. */
Test(tokens, owner_tags_follow_names)
{
	struct api_tokens *t = parse_ok("ci sha256:" HEX64 " read\n"
					"root sha256:" HEX64_OTHER " admin");
	struct api_tokens *again = parse_ok("root sha256:" HEX64 " read\n"
					    "ci sha256:" HEX64_OTHER " admin");
	const struct api_token *ci = lookup(t, "test");
	const struct api_token *root = lookup(t, "admin-secret");
	cr_assert(ci != NULL && root != NULL);
	cr_expect_neq(ci->tag, 0u);
	cr_expect_neq(root->tag, 0u);
	cr_expect_neq(ci->tag, root->tag);
	cr_expect_eq(lookup(again, "admin-secret")->tag, ci->tag, "the name, not the hash");
	cr_expect_eq(lookup(again, "test")->tag, root->tag);
	api_tokens_free(t);
	api_tokens_free(again);
}

/* A file with no token (empty, comments only: a config push that truncated
 * it) is refused, at start and on SIGHUP (the old tokens then stay): in
 * force it would refuse every request, heartbeats too, and empty the site. */
Test(tokens, a_file_without_a_token_is_refused)
{
	static const char *const texts[] = {"", "# nobody yet\n", "\n\n   \n# a\n"};
	for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
		struct api_tokens *t = (struct api_tokens *)1;
		char err[256] = "";
		cr_expect_eq(api_tokens_parse(texts[k], strlen(texts[k]), &t, err, sizeof(err)),
				RS_ECONF, "text %zu", k);
		cr_expect_not_null(strstr(err, "no token in the file"), "%s", err);
	}
	api_tokens_free(NULL);
}

struct scope_case {
	char scopes[32];
	char service[16]; /* "": a lease operation */
	bool read, write, admin;
};

ParameterizedTestParameters(tokens, scopes_allow_what_they_say)
{
	static struct scope_case cases[] = {
			{"read", "web", true, false, false},
			{"read", "", true, false, false},
			{"write:web", "web", true, true, false},
			{"write:web", "WEB", true, true, false},
			{"write:web", "web2", true, false, false},
			{"write:web", "", true, true, false},
			{"write:web*", "web-api", true, true, false},
			{"write:web*", "api-web", true, false, false},
			{"write:*-api", "web-api", true, true, false},
			{"write:db?", "db1", true, true, false},
			{"write:db?", "db12", true, false, false},
			{"write:db[0-3]", "db2", true, true, false},
			{"write:db[0-3]", "db4", true, false, false},
			{"write:db[!0-3]", "db4", true, true, false},
			{"write:a,write:b", "b", true, true, false},
			{"admin", "anything", true, true, true},
			{"admin", "", true, true, true},
	};
	return cr_make_param_array(struct scope_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct scope_case *c, tokens, scopes_allow_what_they_say)
{
	char text[256];
	snprintf(text, sizeof(text), "t sha256:" HEX64 " %s", c->scopes);
	struct api_tokens *t = parse_ok(text);
	const struct api_token *tok = &t->v[0];
	cr_expect_eq(api_token_can_read(tok), c->read, "%s read", c->scopes);
	const char *svc = c->service[0] != '\0' ? c->service : NULL;
	cr_expect_eq(api_token_can_write(tok, svc), c->write, "%s write %s", c->scopes,
			svc ? svc : "(lease)");
	cr_expect_eq(api_token_is_admin(tok), c->admin, "%s admin", c->scopes);
	api_tokens_free(t);
}

Test(tokens, no_token_allows_nothing)
{
	cr_expect_not(api_token_can_read(NULL));
	cr_expect_not(api_token_can_write(NULL, "web"));
	cr_expect_not(api_token_can_write(NULL, NULL));
	cr_expect_not(api_token_is_admin(NULL));
}

Test(tokens, load_names_the_file_and_line)
{
	char path[] = "/tmp/roster-tokens-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	FILE *f = fdopen(fd, "w");
	fprintf(f, "ok sha256:%s read\nbad sha256:%s nope\n", HEX64, HEX64_OTHER);
	fclose(f);
	struct api_tokens *t = NULL;
	char err[512];
	cr_expect_eq(api_tokens_load(path, &t, err, sizeof(err)), RS_ECONF);
	char want[600];
	snprintf(want, sizeof(want),
			"%s: line 2: unknown scope 'nope' (read, write:<service-glob>, admin)",
			path);
	cr_expect_str_eq(err, want);
	unlink(path);
	cr_expect_lt(api_tokens_load(path, &t, err, sizeof(err)), 0);
	cr_expect(strstr(err, "No such file") != NULL, "%s", err);
}

/* Every character a name, a digest and a glob may hold is taken; the ones
 * next to them in ASCII are refused with their line. */
Test(tokens, each_character_class_of_names_digests_and_globs)
{
	struct api_tokens *t =
			parse_ok("Ci.deploy_09-Z sha256:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B"
				 "2B0B822CD15D6C15B0F00A08 write:Web-0*?[!0-9],write:x \t \n");
	cr_assert_eq(t->n, 1);
	const struct api_token *tok = lookup(t, "test");
	cr_assert_not_null(tok, "upper-case hex is the same digest");
	cr_expect_str_eq(tok->name, "Ci.deploy_09-Z");
	cr_expect_str_eq(tok->globs[0], "web-0*?[!0-9]");
	cr_expect(api_token_can_write(tok, "WEB-07q"), "the service is lower-cased to match");
	cr_expect_not(api_token_can_write(tok, "web-0xx1"));
	cr_expect_not(api_token_can_write(tok, "db"));
	cr_expect(api_token_can_write(tok, NULL), "a lease operation: any write scope");
	char longsvc[80];
	memset(longsvc, 'x', sizeof(longsvc) - 1);
	longsvc[sizeof(longsvc) - 1] = '\0';
	cr_expect_not(api_token_can_write(tok, longsvc), "longer than a label: no match");
	api_tokens_free(t);
	cr_expect_null(api_tokens_find(NULL, (const uint8_t[API_TOKEN_DIGEST]){0}));

	static const struct {
		const char *text;
		const char *want;
	} bad[] = {
			{"a@ sha256:" HEX64 " read", "bad character 0x40 in the token name"},
			{"a` sha256:" HEX64 " read", "bad character 0x60 in the token name"},
			{"a{ sha256:" HEX64 " read", "bad character 0x7b in the token name"},
			{"a[ sha256:" HEX64 " read", "bad character 0x5b in the token name"},
			{"a: sha256:" HEX64 " read", "bad character 0x3a in the token name"},
			{"a/ sha256:" HEX64 " read", "bad character 0x2f in the token name"},
			{"a sha256:" HEX64 " write:", "unknown scope 'write:'"},
			{"a sha256:" HEX64 " write:a.b", "bad character 0x2e in service glob"},
			{"a sha256:" HEX64 " write:a_b", "bad character 0x5f in service glob"},
			{"a sha256:" HEX64 " write:a{", "bad character 0x7b in service glob"},
			{"a sha256:" HEX64 " write:a@", "bad character 0x40 in service glob"},
			{"a sha256:" HEX64 " write:a`", "bad character 0x60 in service glob"},
			{"a sha256:" HEX64 " admins", "unknown scope 'admins'"},
			{"a sha256:" HEX64
			 " write:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
					"service glob longer than 63 characters"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct api_tokens *b = NULL;
		char err[256] = "";
		cr_expect_eq(api_tokens_parse(bad[i].text, strlen(bad[i].text), &b, err,
					     sizeof(err)),
				RS_ECONF, "%s", bad[i].text);
		cr_expect_null(b);
		cr_expect_not_null(strstr(err, bad[i].want), "'%s': got '%s'", bad[i].text, err);
	}
	/* A digit past 'f', one before '0', one between '9' and 'A', in each
	 * half of a byte. */
	static const char *const digests[] = {
			"g0", "0g", "G0", "0G", "/0", "0/", ":0", "0:", "@0", "0@", "`0", "0`"};
	for (size_t i = 0; i < sizeof(digests) / sizeof(digests[0]); i++) {
		char text[200];
		snprintf(text, sizeof(text), "a sha256:%s%.62s read", digests[i], HEX64 + 2);
		struct api_tokens *b = NULL;
		char err[256] = "";
		cr_expect_eq(api_tokens_parse(text, strlen(text), &b, err, sizeof(err)), RS_ECONF,
				"%s", text);
		cr_expect_not_null(strstr(err, "the second field must be sha256"), "%s: %s", text,
				err);
	}
}
