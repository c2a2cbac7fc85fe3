#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "zonegen/buf.h"

Test(buf, decimal_and_ipv4)
{
	struct zg_buf b;
	zg_buf_init(&b);
	zg_buf_u64(&b, 0);
	zg_buf_chr(&b, ' ');
	zg_buf_u64(&b, 4294967295u);
	zg_buf_chr(&b, ' ');
	const uint8_t a[4] = {10, 0, 255, 7};
	zg_buf_ipv4(&b, a);
	cr_assert_eq(zg_buf_ok(&b), 0);
	cr_expect_eq(b.len, strlen("0 4294967295 10.0.255.7"));
	cr_expect_eq(memcmp(b.data, "0 4294967295 10.0.255.7", b.len), 0);
	zg_buf_deinit(&b);
	zg_buf_deinit(NULL);
}

/* The IPv6 writer must print exactly what inet_ntop() prints: zone files
 * are compared byte for byte between runs and with other tools. */
Test(buf, ipv6_matches_inet_ntop)
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
		struct zg_buf b;
		zg_buf_init(&b);
		zg_buf_ipv6(&b, a);
		zg_buf_chr(&b, '\0');
		cr_assert_str_eq(b.data, want);
		zg_buf_deinit(&b);
	}
}
