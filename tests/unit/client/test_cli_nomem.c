/*
 * The CLI's modules under allocation failures (tests/faults/allocfail.h):
 * ringowner_find() refuses with ROSTER_ENOMEM and answers once memory
 * returns; roster doctor, each of its allocations failing once in turn
 * against a registry whose API refuses and whose HTTP port accepts but
 * never answers, exits 1 with a line naming the shortage (the whole run,
 * or the check that met it), never crashes, and passes the HTTP check's
 * connection stage once memory returns.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "allocfail.h"
#include "client/cli/doctor.h"
#include "client/cli/ringowner.h"
#include "client/inst.h"

Test(cli_nomem, ringowner_find_refuses_whole_and_answers_after)
{
	struct roster_result *r = inst_result_new(2);
	const char *hosts[] = {"a.example.net.", "b.example.net."};
	for (size_t i = 0; i < 2; i++) {
		struct roster_instance in = {.service = "s",
				.protocol = "p",
				.host = hosts[i],
				.port = 1234,
				.status = ROSTER_UP};
		cr_assert_eq(inst_pack(&r->instances[i], &in), 0);
		r->n_instances++;
	}
	struct ringowner o;
	size_t k;
	for (k = 1; k < 10; k++) {
		allocfail_arm(k);
		int rc = ringowner_find(r, "key", &o);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (!struck) {
			cr_assert_eq(rc, 0);
			break;
		}
		cr_expect_eq(rc, ROSTER_ENOMEM, "k=%zu", k);
	}
	cr_expect_eq(k, 4, "three allocations");
	cr_expect_str_eq(o.host, o.instance == 0 ? hosts[0] : hosts[1]);
	roster_result_free(r);
}

/* A TCP listener on 127.0.0.1 that never accepts: connects complete in its
 * backlog, a request is taken into the socket buffer, nothing answers. */
static int listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 64), 0);
	socklen_t len = sizeof(sa);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

Test(cli_nomem, doctor_names_a_shortage_and_never_crashes)
{
	int port, fd = listener(&port);
	struct doctor_registry reg;
	snprintf(reg.api, sizeof(reg.api), "127.0.0.1:%d", port); /* accepts, never answers */
	snprintf(reg.dns, sizeof(reg.dns), "127.0.0.1:%d", port);
	snprintf(reg.http, sizeof(reg.http), "127.0.0.1:%d", port);
	struct args a = {.timeout_ms = 100};
	size_t k, whole = 0, http = 0;
	for (k = 1; k < 200; k++) {
		char *text = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);
		cr_assert_not_null(out);
		allocfail_arm(k);
		int rc = doctor_run(&a, &reg, 1, NULL, out);
		bool struck = allocfail_struck();
		allocfail_disarm();
		fclose(out);
		cr_expect_eq(rc, 1, "k=%zu: the API does not answer", k);
		whole += len == 0 ? 1 : 0; /* the run itself refused: said on stderr */
		char want[96];
		snprintf(want, sizeof(want), "FAIL 127.0.0.1:%d http: %s", port, strerror(ENOMEM));
		http += strstr(text, want) != NULL ? 1 : 0;
		if (!struck) {
			cr_expect(strstr(text, " http: no answer in time") != NULL, "%s", text);
			free(text);
			break;
		}
		free(text);
	}
	close(fd);
	cr_assert_lt(k, 200);
	cr_expect_eq(whole, 2, "the doctor's own two allocations");
	cr_expect_eq(http, 1, "the HTTP body's");
}
