/*
 * A port free for both TCP and UDP on 127.0.0.1, the kernel's pick: a DNS
 * listener binds both, so a port checked for UDP alone may be taken on TCP
 * by another test running at the same time.
 */
#pragma once

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

static inline uint16_t test_free_port(void)
{
	for (int tries = 0; tries < 100; tries++) {
		int t = socket(AF_INET, SOCK_STREAM, 0);
		int u = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in sin = {.sin_family = AF_INET};
		inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
		socklen_t len = sizeof(sin);
		bool ok = bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
			  getsockname(t, (struct sockaddr *)&sin, &len) == 0 &&
			  bind(u, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(t);
		close(u);
		if (ok) {
			return ntohs(sin.sin_port);
		}
	}
	cr_assert_fail("no free port");
	return 0;
}
