#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "common/addr.h"
#include "common/error.h"

struct addr_case {
	char text[80];
	int expect;
	int family;
	char canonical[80];
};

ParameterizedTestParameters(addr, parse_table)
{
	static struct addr_case cases[] = {
			{"10.1.2.3", 0, AF_INET, "10.1.2.3"},
			{"0.0.0.0", 0, AF_INET, "0.0.0.0"},
			{"255.255.255.255", 0, AF_INET, "255.255.255.255"},
			{"::1", 0, AF_INET6, "::1"},
			{"2001:DB8:0:0:0:0:0:1", 0, AF_INET6, "2001:db8::1"},
			{"fd00::10:1", 0, AF_INET6, "fd00::10:1"},
			{"::ffff:10.1.2.3", 0, AF_INET6, "::ffff:10.1.2.3"},
			{"", RS_EADDR, 0, ""},
			{"10.1.2", RS_EADDR, 0, ""},
			{"10.1.2.3.4", RS_EADDR, 0, ""},
			{"256.1.1.1", RS_EADDR, 0, ""},
			{"010.1.2.3", RS_EADDR, 0, ""},
			{"10.01.2.3", RS_EADDR, 0, ""},
			{"1.2.3.4 ", RS_EADDR, 0, ""},
			{"host.example.net", RS_EADDR, 0, ""},
			{"::1::2", RS_EADDR, 0, ""},
			{"2001:db8::g", RS_EADDR, 0, ""},
			{"12345::", RS_EADDR, 0, ""},
	};
	return cr_make_param_array(struct addr_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct addr_case *c, addr, parse_table)
{
	struct rs_addr a;
	int rc = rs_addr_parse(c->text, &a);
	cr_assert_eq(rc, c->expect, "'%s': got %d", c->text, rc);
	if (rc == 0) {
		cr_expect_eq(a.family, c->family);
		char out[RS_ADDR_TEXT_MAX];
		rs_addr_format(&a, out);
		cr_expect_str_eq(out, c->canonical);
	}
}

struct ep_case {
	char text[80];
	unsigned default_port;
	int expect;
	char formatted[80];
};

ParameterizedTestParameters(addr, endpoint_table)
{
	static struct ep_case cases[] = {
			{"127.0.0.1:8053", 0, 0, "127.0.0.1:8053"},
			{"[::1]:7600", 0, 0, "[::1]:7600"},
			{"127.0.0.1", 53, 0, "127.0.0.1:53"},
			{"::1", 53, 0, "[::1]:53"},
			{"[::1]", 53, 0, "[::1]:53"},
			{"127.0.0.1", 0, RS_EPORT, ""},
			{"127.0.0.1:0", 0, RS_EPORT, ""},
			{"127.0.0.1:65536", 0, RS_EPORT, ""},
			{"127.0.0.1:http", 0, RS_EPORT, ""},
			{"127.0.0.1:", 0, RS_EPORT, ""},
			{"localhost:53", 0, RS_EADDR, ""},
			{"[::1", 0, RS_EADDR, ""},
			{"[::1]x", 0, RS_EADDR, ""},
			{"", 53, RS_EADDR, ""},
	};
	return cr_make_param_array(struct ep_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct ep_case *c, addr, endpoint_table)
{
	struct sockaddr_storage ss;
	int rc = rs_endpoint_parse(c->text, (uint16_t)c->default_port, &ss);
	cr_assert_eq(rc, c->expect, "'%s': got %d", c->text, rc);
	if (rc == 0) {
		char out[RS_ADDR_TEXT_MAX];
		rs_endpoint_format((struct sockaddr *)&ss, out);
		cr_expect_str_eq(out, c->formatted);
	}
}

Test(addr, port_parse_bounds)
{
	cr_expect_eq(rs_port_parse("1"), 1);
	cr_expect_eq(rs_port_parse("65535"), 65535);
	cr_expect_eq(rs_port_parse("0"), RS_EPORT);
	cr_expect_eq(rs_port_parse("65536"), RS_EPORT);
	cr_expect_eq(rs_port_parse("-1"), RS_EPORT);
	cr_expect_eq(rs_port_parse("+5"), RS_EPORT);
	cr_expect_eq(rs_port_parse("5x"), RS_EPORT);
	cr_expect_eq(rs_port_parse(""), RS_EPORT);
	cr_expect_eq(rs_port_parse("000080"), RS_EPORT);
}

Test(addr, compare_orders_family_then_bytes)
{
	struct rs_addr a, b, c;
	cr_assert_eq(rs_addr_parse("10.0.0.1", &a), 0);
	cr_assert_eq(rs_addr_parse("10.0.0.2", &b), 0);
	cr_assert_eq(rs_addr_parse("::1", &c), 0);
	cr_expect_lt(rs_addr_cmp(&a, &b), 0);
	cr_expect_gt(rs_addr_cmp(&b, &a), 0);
	cr_expect_eq(rs_addr_cmp(&a, &a), 0);
	cr_expect_lt(rs_addr_cmp(&a, &c), 0);
}

Test(addr, prefix_parse_and_match)
{
	static const struct {
		const char *text;
		int expect;
		uint8_t len;
	} cases[] = {
			{"127.0.0.1/32", 0, 32},
			{"10.0.0.0/8", 0, 8},
			{"0.0.0.0/0", 0, 0},
			{"192.0.2.7", 0, 32},
			{"2001:db8::/32", 0, 32},
			{"::1", 0, 128},
			{"::/0", 0, 0},
			{"10.1.2.3/8", RS_EADDR, 0},
			{"10.0.0.0/33", RS_EADDR, 0},
			{"2001:db8::/129", RS_EADDR, 0},
			{"10.0.0.0/", RS_EADDR, 0},
			{"10.0.0.0/08", RS_EADDR, 0},
			{"10.0.0.0/8x", RS_EADDR, 0},
			{"/8", RS_EADDR, 0},
			{"example.net/8", RS_EADDR, 0},
			{"", RS_EADDR, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rs_prefix p;
		int rc = rs_prefix_parse(cases[i].text, &p);
		cr_expect_eq(rc, cases[i].expect, "%s", cases[i].text);
		if (rc == 0) {
			cr_expect_eq(p.len, cases[i].len, "%s", cases[i].text);
		}
	}
	struct rs_prefix net, v6, host;
	cr_assert_eq(rs_prefix_parse("10.20.0.0/14", &net), 0);
	cr_assert_eq(rs_prefix_parse("2001:db8:1::/48", &v6), 0);
	cr_assert_eq(rs_prefix_parse("127.0.0.1", &host), 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	inet_pton(AF_INET, "10.23.255.1", &a.sin_addr);
	cr_expect(rs_prefix_match(&net, (struct sockaddr *)&a));
	inet_pton(AF_INET, "10.24.0.1", &a.sin_addr);
	cr_expect(!rs_prefix_match(&net, (struct sockaddr *)&a));
	cr_expect(!rs_prefix_match(&v6, (struct sockaddr *)&a));
	struct sockaddr_in6 b = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, "2001:db8:1:ffff::5", &b.sin6_addr);
	cr_expect(rs_prefix_match(&v6, (struct sockaddr *)&b));
	inet_pton(AF_INET6, "2001:db8:2::5", &b.sin6_addr);
	cr_expect(!rs_prefix_match(&v6, (struct sockaddr *)&b));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &b.sin6_addr);
	cr_expect(rs_prefix_match(&host, (struct sockaddr *)&b), "IPv4-mapped");
	cr_expect(!rs_prefix_match(&host, NULL));
}

Test(addr, loopback_socket_addresses)
{
	static const char *const yes[] = {
			"127.0.0.1:53", "127.255.0.9:53", "[::1]:53", "[::ffff:127.0.0.2]:53"};
	static const char *const no[] = {"10.0.0.1:53", "0.0.0.0:53", "[::]:53", "[2001:db8::1]:53",
			"[::ffff:10.0.0.1]:53", "128.0.0.1:53"};
	struct sockaddr_storage ss;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		cr_assert_eq(rs_endpoint_parse(yes[i], 53, &ss), 0, "%s", yes[i]);
		cr_expect(rs_sockaddr_is_loopback(&ss), "%s", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		cr_assert_eq(rs_endpoint_parse(no[i], 53, &ss), 0, "%s", no[i]);
		cr_expect(!rs_sockaddr_is_loopback(&ss), "%s", no[i]);
	}
}
