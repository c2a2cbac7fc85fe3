/*
 * acl_new() without memory (tests/faults/allocfail.h): each allocation on
 * its path fails once, and each time it returns RS_ENOMEM with *out NULL
 * and nothing leaked (ASan); with memory back it builds a working ACL.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "allocfail.h"
#include "common/addr.h"
#include "common/error.h"
#include "common/log.h"
#include "server/net/acl.h"

Test(acl_nomem, every_failed_allocation_is_enomem_and_leaves_nothing)
{
	rs_log_set_level(RS_LOG_ERROR);
	struct rs_prefix p[2];
	cr_assert_eq(rs_prefix_parse("10.0.0.0/8", &p[0]), 0);
	cr_assert_eq(rs_prefix_parse("2001:db8::/32", &p[1]), 0);
	size_t failed = 0;
	for (size_t k = 1; k < 16; k++) {
		struct acl *acl = (struct acl *)1;
		allocfail_arm(k);
		int rc = acl_new("dns", "--dns-allow", p, 2, false, &acl);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (!struck) {
			cr_assert_eq(rc, 0);
			acl_free(acl);
			break;
		}
		failed++;
		cr_expect_eq(rc, RS_ENOMEM, "allocation %zu", k);
		cr_expect_null(acl, "allocation %zu", k);
	}
	cr_expect_eq(failed, 2, "the ACL and its prefix list");
	struct acl *acl = NULL;
	cr_assert_eq(acl_new("dns", "--dns-allow", p, 2, false, &acl), 0);
	struct sockaddr_in in = {.sin_family = AF_INET};
	inet_pton(AF_INET, "10.9.8.7", &in.sin_addr);
	cr_expect_eq(acl_check(acl, (struct sockaddr *)&in, 1000), ACL_ALLOW);
	inet_pton(AF_INET, "11.9.8.7", &in.sin_addr);
	cr_expect_eq(acl_check(acl, (struct sockaddr *)&in, 1000), ACL_REFUSE);
	acl_free(acl);
	acl_free(NULL);
}
