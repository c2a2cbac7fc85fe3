#include <criterion/criterion.h>
#include <string.h>

#include "common/error.h"

Test(error, printf_writes_the_message_and_returns_the_code)
{
	char err[64];
	cr_expect_eq(rs_error_printf(err, sizeof(err), RS_ECONF, "bad %s at %d", "ttl", 3),
			RS_ECONF);
	cr_expect_str_eq(err, "bad ttl at 3");
}

Test(error, printf_truncates_to_the_buffer)
{
	char err[8];
	cr_expect_eq(rs_error_printf(err, sizeof(err), RS_EINVAL, "%s", "a long message"),
			RS_EINVAL);
	cr_expect_str_eq(err, "a long ");
}

Test(error, every_project_code_has_a_description)
{
	const int codes[] = {
			RS_ENAME_EMPTY, RS_EADDR, RS_EPORT, RS_EFRAME_BIG, RS_ELIMIT, RS_ECONF};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		cr_expect_str_neq(rs_strerror(codes[i]), "unknown error", "%d", codes[i]);
	}
}
