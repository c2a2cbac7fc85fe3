/* The public calls of client.c that need no registry. */
#include <criterion/criterion.h>

#include "roster/client.h"

Test(client, timeout_ms_is_the_effective_value)
{
	struct roster_client *c = NULL;
	cr_assert_eq(roster_client_new(NULL, &c), 0);
	cr_expect_eq(roster_client_timeout_ms(c), 2000, "the default applies to 0");
	roster_client_free(c);
	struct roster_config cfg = {.timeout_ms = 350};
	cr_assert_eq(roster_client_new(&cfg, &c), 0);
	cr_expect_eq(roster_client_timeout_ms(c), 350);
	roster_client_free(c);
}
