#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "zonegen/addrtext.h"

Test(addrtext, ipv4_dotted_quads)
{
	struct rs_buf b;
	rs_buf_init(&b);
	const uint8_t a[4] = {10, 0, 255, 7}, z[4] = {0, 0, 0, 0}, m[4] = {199, 99, 100, 9};
	zg_addrtext_v4(&b, a);
	rs_buf_chr(&b, ' ');
	zg_addrtext_v4(&b, z);
	rs_buf_chr(&b, ' ');
	zg_addrtext_v4(&b, m);
	cr_assert_eq(rs_buf_error(&b), 0);
	const char want[] = "10.0.255.7 0.0.0.0 199.99.100.9";
	cr_expect_eq(b.len, strlen(want));
	cr_expect_eq(memcmp(b.data, want, b.len), 0);
	rs_buf_deinit(&b);
}

/* The IPv6 writer must print exactly what inet_ntop() prints: zone files
 * are compared byte for byte between runs and with other tools. */
Test(addrtext, ipv6_matches_inet_ntop)
{
	static const char *const fixed[] = {"::", "::1", "2001:db8::1", "2001:db8:0:0:1:0:0:1",
			"2001:0:0:1::1", "fe80::", "1:2:3:4:5:6:7:8", "1::8", "::ffff:10.1.2.3",
			"::10.1.2.3", "0:0:0:1::", "1:0:0:2:0:0:0:3", "2001:db8:a::"};
	uint8_t a[16];
	char want[INET6_ADDRSTRLEN];
	unsigned seed = 7;
	for (size_t i = 0; i < 20000; i++) {
		if (i < sizeof(fixed) / sizeof(fixed[0])) {
			cr_assert_eq(inet_pton(AF_INET6, fixed[i], a), 1);
		} else {
			for (int k = 0; k < 16; k++) {
				seed = seed * 1103515245u + 12345u;
				/* mostly zeros, so that runs of zero words are common */
				a[k] = (seed >> 16) % 4 == 0 ? (uint8_t)(seed >> 8) : 0;
			}
		}
		inet_ntop(AF_INET6, a, want, sizeof(want));
		struct rs_buf b;
		rs_buf_init(&b);
		zg_addrtext_v6(&b, a);
		rs_buf_chr(&b, '\0');
		cr_assert_str_eq(b.data, want);
		rs_buf_deinit(&b);
	}
}
