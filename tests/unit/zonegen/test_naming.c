#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "common/error.h"
#include "zonegen/naming.h"

struct naming_case {
	char name[64];
	int expect;
	char site[16], role[32], pool[4], id[16];
};

ParameterizedTestParameters(naming, table)
{
	static struct naming_case cases[] = {
			{"ash2-dnsresolver-a1337", 0, "ash2", "dnsresolver", "a", "1337"},
			{"lon6-metadataproxy-a133t", 0, "lon6", "metadataproxy", "a", "133t"},
			{"lon6-dns-auth-b2", 0, "lon6", "dns-auth", "b", "2"},
			{"x-y-z1", 0, "x", "y", "z", "1"},
			/* not the convention */
			{"ash2", RS_EINVAL, "", "", "", ""},
			{"ash2-dnsresolver", RS_EINVAL, "", "", "", ""},
			{"ash2-dnsresolver-a", RS_EINVAL, "", "", "", ""},
			{"ash2-dnsresolver-1337", RS_EINVAL, "", "", "", ""},
			{"ash2--a1", RS_EINVAL, "", "", "", ""},
			{"-dnsresolver-a1", RS_EINVAL, "", "", "", ""},
			{"ash2-dnsresolver-", RS_EINVAL, "", "", "", ""},
			{"ash2-dnsresolver-a1_3", RS_EINVAL, "", "", "", ""},
	};
	return cr_make_param_array(struct naming_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct naming_case *c, naming, table)
{
	struct zg_naming n;
	int rc = zg_naming_parse(c->name, strlen(c->name), &n);
	cr_assert_eq(rc, c->expect, "%s: got %d", c->name, rc);
	if (rc != 0) {
		return;
	}
	cr_expect_eq(n.site_len, strlen(c->site));
	cr_expect_eq(strncmp(c->name, c->site, n.site_len), 0);
	cr_expect_eq(n.role_len, strlen(c->role), "%s role len %zu", c->name, n.role_len);
	cr_expect_eq(strncmp(c->name + n.role_off, c->role, n.role_len), 0);
	cr_expect_eq(c->name[n.pool_off], c->pool[0]);
	cr_expect_eq(n.id_len, strlen(c->id));
	cr_expect_eq(strncmp(c->name + n.id_off, c->id, n.id_len), 0);
}
