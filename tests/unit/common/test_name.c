#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/name.h"

struct name_case {
	char text[400];
	unsigned flags;
	int expect;
};

static void repeat(char *out, char c, size_t n)
{
	memset(out, c, n);
	out[n] = '\0';
}

ParameterizedTestParameters(name, check_table)
{
	static struct name_case cases[] = {
			/* accepted */
			{"example.net", 0, 0},
			{"example.net.", 0, 0},
			{"lon6-metadataproxy-a133t.lon6.example.net", 0, 0},
			{"A.B.C", 0, 0},
			{"1host.example.net", 0, 0},
			{"x", 0, 0},
			{"a-b.c-d", 0, 0},
			{"_sip._tcp.example.net", RS_NAME_UNDERSCORE, 0},
			{"10.1.2.3", RS_NAME_NUMERIC_TOP, 0},
			/* rejected */
			{"", 0, RS_ENAME_EMPTY},
			{".", 0, RS_ENAME_EMPTY},
			{"a..b", 0, RS_ENAME_EMPTY},
			{".a", 0, RS_ENAME_EMPTY},
			{"a.b..", 0, RS_ENAME_EMPTY},
			{"-a.example.net", 0, RS_ENAME_HYPHEN},
			{"a-.example.net", 0, RS_ENAME_HYPHEN},
			{"a_b.example.net", 0, RS_ENAME_CHAR},
			{"a b.example.net", 0, RS_ENAME_CHAR},
			{"a*.example.net", 0, RS_ENAME_CHAR},
			{"caf\xc3\xa9.example.net", 0, RS_ENAME_CHAR},
			{"a/b", 0, RS_ENAME_CHAR},
			{"a\\.b", 0, RS_ENAME_CHAR},
			{"a;b", 0, RS_ENAME_CHAR},
			{"a\"b", 0, RS_ENAME_CHAR},
			{"10.1.2.3", 0, RS_ENAME_NUMERIC},
			{"host.123", 0, RS_ENAME_NUMERIC},
			{"_sip._tcp.example.net", 0, RS_ENAME_CHAR},
	};
	return cr_make_param_array(struct name_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct name_case *c, name, check_table)
{
	cr_expect_eq(rs_name_check(c->text, c->flags), c->expect, "'%s': got %d want %d", c->text,
			rs_name_check(c->text, c->flags), c->expect);
}

Test(name, label_of_63_accepted_64_rejected)
{
	char label[70];
	repeat(label, 'a', 63);
	cr_expect_eq(rs_label_check(label, 63, 0), 0);
	repeat(label, 'a', 64);
	cr_expect_eq(rs_label_check(label, 64, 0), RS_ENAME_LABEL_LONG);
	char name[80];
	snprintf(name, sizeof(name), "%s.net", label);
	cr_expect_eq(rs_name_check(name, 0), RS_ENAME_LABEL_LONG);
}

/* 253 characters of text is 255 octets of wire: the longest legal name. */
static void build_name(char *out, size_t text_len)
{
	size_t o = 0;
	while (o < text_len) {
		size_t left = text_len - o;
		size_t l = left > 63 ? 63 : left;
		if (left > 63 && left - 63 < 2) {
			l = left - 2; /* leave room for ".x" */
		}
		memset(out + o, 'a', l);
		o += l;
		if (o < text_len) {
			out[o++] = '.';
		}
	}
	out[o] = '\0';
}

Test(name, length_limit_is_255_wire_octets)
{
	char name[400];
	build_name(name, 253);
	cr_assert_eq(strlen(name), 253);
	cr_expect_eq(rs_name_check(name, 0), 0);
	uint8_t wire[RS_NAME_WIRE_MAX];
	cr_expect_eq(rs_name_to_wire(name, 0, wire), 255);
	strcat(name, ".");
	cr_expect_eq(rs_name_check(name, 0), 0, "trailing dot does not count");
	build_name(name, 254);
	cr_expect_eq(rs_name_check(name, 0), RS_ENAME_LONG);
	build_name(name, 300);
	cr_expect_eq(rs_name_check(name, 0), RS_ENAME_LONG);
}

Test(name, canonical_is_lower_case_with_one_trailing_dot)
{
	char out[RS_NAME_TEXT_MAX];
	cr_expect_eq(rs_name_canonical("Web1.LON6.Example.NET", 0, out), 22);
	cr_expect_str_eq(out, "web1.lon6.example.net.");
	cr_expect_eq(rs_name_canonical("a.b.", 0, out), 4);
	cr_expect_str_eq(out, "a.b.");
	cr_expect_eq(rs_name_canonical("a..b", 0, out), RS_ENAME_EMPTY);
}

Test(name, wire_round_trip)
{
	uint8_t wire[RS_NAME_WIRE_MAX];
	int n = rs_name_to_wire("Srv.Example.net", 0, wire);
	cr_assert_eq(n, 17);
	cr_expect_eq(memcmp(wire, "\3srv\7example\3net\0", 17), 0);
	cr_expect_eq(rs_name_wire_len(wire, (size_t)n), n);
	char text[1024];
	cr_expect_eq(rs_name_from_wire(wire, (size_t)n, text, sizeof(text)), 16);
	cr_expect_str_eq(text, "srv.example.net.");
}

struct wire_case {
	uint8_t wire[300];
	size_t len;
	int expect;
};

ParameterizedTestParameters(name, wire_len_table)
{
	static struct wire_case cases[] = {
			{{0}, 1, 1}, {{1, 'a', 0}, 3, 3},
			{{1, 'a'}, 2, RS_EPROTO},      /* runs past the end */
			{{0xc0, 0x0c}, 2, RS_EPROTO},  /* compression pointer */
			{{0x40, 'a'}, 2, RS_EPROTO},   /* label type 01 (extended) */
			{{0x80, 'a'}, 2, RS_EPROTO},   /* label type 10 (reserved) */
			{{3, 'a', 'b'}, 3, RS_EPROTO}, /* label longer than the data */
			{{0}, 0, RS_EPROTO},           /* nothing at all */
	};
	return cr_make_param_array(struct wire_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct wire_case *c, name, wire_len_table)
{
	cr_expect_eq(rs_name_wire_len(c->wire, c->len), c->expect);
}

Test(name, wire_over_255_octets_rejected)
{
	uint8_t wire[400];
	size_t o = 0;
	for (int i = 0; i < 5; i++) { /* 5 * 64 = 320 octets */
		wire[o++] = 63;
		memset(wire + o, 'a', 63);
		o += 63;
	}
	cr_expect_eq(rs_name_wire_len(wire, o), RS_EPROTO);
}

Test(name, from_wire_escapes_odd_octets)
{
	const uint8_t wire[] = {3, 'a', '.', 0xff, 0};
	char text[1024];
	int n = rs_name_from_wire(wire, sizeof(wire), text, sizeof(text));
	cr_assert_gt(n, 0);
	cr_expect_str_eq(text, "a\\.\\255.");
	cr_expect_eq(rs_name_from_wire(wire, sizeof(wire), text, 4), RS_ERANGE);
}

Test(name, wire_equal_ignores_case)
{
	cr_expect(rs_name_wire_equal((const uint8_t *)"\3ABC\0", 5, (const uint8_t *)"\3abc\0", 5));
	cr_expect(!rs_name_wire_equal(
			(const uint8_t *)"\3abd\0", 5, (const uint8_t *)"\3abc\0", 5));
	cr_expect(!rs_name_wire_equal((const uint8_t *)"\2ab\0", 4, (const uint8_t *)"\3abc\0", 5));
}

Test(name, single_label)
{
	cr_expect(rs_name_single_label("web1"));
	cr_expect(rs_name_single_label("web1."));
	cr_expect(!rs_name_single_label("web1.lon6"));
	cr_expect(!rs_name_single_label("web1.lon6.example.net."));
}
