/*
 * How a C service registers at startup: one endpoint, a lease kept alive by
 * libroster's own thread (heartbeats, reconnects, re-registration after a
 * registry restart), deregistered on SIGTERM/SIGINT.
 *
 *   register_at_startup 127.0.0.1:7600 web http web1.lon6.example.net 8080
 */
#include <roster/client.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s REGISTRY SERVICE PROTOCOL HOST PORT\n", argv[0]);
		return 2;
	}
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL); /* before libroster's thread starts */

	/* --- the dozen lines --- */
	const char *registries[] = {argv[1]};
	struct roster_config cfg = {.servers = registries, .n_servers = 1, .ttl_seconds = 10};
	struct roster_instance me = {.service = argv[2],
			.protocol = argv[3],
			.host = argv[4],
			.port = (uint16_t)atoi(argv[5])};
	struct roster_client *c = NULL;
	int rc = roster_client_new(&cfg, &c);
	if (rc == 0 && (rc = roster_endpoint_add(c, &me)) == 0 &&
			(rc = roster_client_start(c)) == 0) {
		rc = roster_client_wait(c, 5000); /* optional: wait until a registry has it */
	}
	if (rc != 0) {
		fprintf(stderr, "roster: %s\n",
				roster_errmsg()[0] ? roster_errmsg() : roster_strerror(rc));
		roster_client_free(c);
		return 1;
	}
	/* --- serve until told to stop; libroster heartbeats meanwhile --- */
	printf("registered %s:%s\n", argv[4], argv[5]);
	fflush(stdout);
	int sig;
	sigwait(&stop, &sig);
	roster_client_free(c); /* deregisters, stops the thread */
	return 0;
}
