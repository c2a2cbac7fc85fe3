/*
 * roster-probe - drives libroster for the integration tests, through the
 * public API only, and prints what happens as JSON lines on stdout.
 *
 *   roster-probe hold  [common] [--endpoints N] [--loop]
 *       register N endpoints (host <prefix><i>.example.net, port base+i),
 *       print every engine event, run until SIGTERM/SIGINT, deregister.
 *       --loop runs the engine on this program's own libuv loop instead of
 *       libroster's thread, and checks uv_loop_close() == 0 at the end.
 *   roster-probe query [common]
 *       one query per line read on stdin; prints the outcome of each.
 *   roster-probe many  [common] --clients N --seconds S
 *       N clients, each with its own lease and connection, on one loop for
 *       S seconds; prints heartbeat counts and the client-side CPU cost.
 * common: --server A (repeatable) | --site S (its registries from the sites
 *         file, ROSTER_SITES: roster_site_servers()) --ttl S --service S --protocol P
 *         --host-prefix H --port-base P --max-stale S --cache FILE
 *         --backoff-max MS --timeout MS
 */
#include <roster/client.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

struct opts {
	const char *servers[8];
	size_t n_servers;
	char **site_servers; /**< --site: roster_site_servers()' list */
	size_t n_site_servers;
	unsigned ttl, endpoints, clients, seconds, port_base, max_stale, backoff_max, timeout;
	const char *service, *protocol, *host_prefix, *cache;
	int loop;
};

static const char *kind_name(enum roster_event_kind k)
{
	static const char *const names[] = {"", "connected", "disconnected", "lease", "lease_lost",
			"registered", "register_failed", "heartbeat", "deregistered"};
	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "unknown";
}

static void print_event_cb(const struct roster_event *ev, void *ud)
{
	(void)ud;
	if (ev->kind == ROSTER_EVENT_HEARTBEAT) {
		static unsigned long beats;
		/* One line per ten heartbeats keeps the log short. */
		if (beats++ % 10 != 0) {
			return;
		}
	}
	printf("{\"event\":\"%s\",\"registry\":%zu,\"server\":\"%s\",\"lease\":%llu,"
	       "\"revision\":%llu,\"error\":%d,\"host\":\"%s\"}\n",
			kind_name(ev->kind), ev->registry, ev->server,
			(unsigned long long)ev->lease, (unsigned long long)ev->revision, ev->error,
			ev->endpoint != NULL ? ev->endpoint->host : "");
	fflush(stdout);
}

static struct roster_config config(const struct opts *o)
{
	struct roster_config cfg = {
			.servers = o->servers,
			.n_servers = o->n_servers,
			.ttl_seconds = o->ttl,
			.max_stale_seconds = o->max_stale,
			.cache_path = o->cache,
			.backoff_max_ms = o->backoff_max,
			.timeout_ms = o->timeout,
	};
	return cfg;
}

static int add_endpoints(struct roster_client *c, const struct opts *o, unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++) {
		char host[128];
		snprintf(host, sizeof(host), "%s%u.example.net", o->host_prefix, i);
		struct roster_instance ep = {.service = o->service,
				.protocol = o->protocol,
				.host = host,
				.port = (uint16_t)(o->port_base + i)};
		int rc = roster_endpoint_add(c, &ep);
		if (rc != 0) {
			fprintf(stderr, "roster-probe: %s\n", roster_errmsg());
			return rc;
		}
	}
	return 0;
}

static uv_signal_t sig_term, sig_int;
static struct roster_client *loop_client;

static void loop_signal_cb(uv_signal_t *s, int signum)
{
	(void)s;
	(void)signum;
	roster_client_stop(loop_client);
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
}

static int cmd_hold(const struct opts *o)
{
	struct roster_config cfg = config(o);
	cfg.event_cb = print_event_cb;
	struct roster_client *c = NULL;
	int rc = roster_client_new(&cfg, &c);
	if (rc != 0) {
		fprintf(stderr, "roster-probe: %s\n", roster_errmsg());
		return 2;
	}
	if (add_endpoints(c, o, 0, o->endpoints) != 0) {
		roster_client_free(c);
		return 2;
	}
	if (o->loop) {
		uv_loop_t loop;
		uv_loop_init(&loop);
		loop_client = c;
		uv_signal_init(&loop, &sig_term);
		uv_signal_init(&loop, &sig_int);
		uv_signal_start(&sig_term, loop_signal_cb, SIGTERM);
		uv_signal_start(&sig_int, loop_signal_cb, SIGINT);
		rc = roster_client_start_loop(c, &loop);
		if (rc == 0) {
			printf("{\"event\":\"started\",\"mode\":\"loop\"}\n");
			fflush(stdout);
			uv_run(&loop, UV_RUN_DEFAULT);
		}
		int closed = uv_loop_close(&loop);
		roster_client_free(c);
		printf("{\"event\":\"stopped\",\"loop_close\":%d}\n", closed);
		return closed == 0 && rc == 0 ? 0 : 1;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	rc = roster_client_start(c);
	if (rc != 0) {
		fprintf(stderr, "roster-probe: %s\n", roster_strerror(rc));
		roster_client_free(c);
		return 1;
	}
	printf("{\"event\":\"started\",\"mode\":\"thread\"}\n");
	fflush(stdout);
	int sig;
	sigwait(&set, &sig);
	roster_client_free(c);
	printf("{\"event\":\"stopped\",\"loop_close\":0}\n");
	return 0;
}

static int cmd_query(const struct opts *o)
{
	struct roster_config cfg = config(o);
	struct roster_client *c = NULL;
	if (roster_client_new(&cfg, &c) != 0) {
		fprintf(stderr, "roster-probe: %s\n", roster_errmsg());
		return 2;
	}
	char line[256];
	while (fgets(line, sizeof(line), stdin) != NULL) {
		struct roster_result *r = NULL;
		int rc = roster_query(c, o->service, o->protocol, 0, &r);
		if (rc != 0) {
			printf("{\"rc\":%d,\"error\":\"%s\"}\n", rc, roster_strerror(rc));
		} else {
			printf("{\"rc\":0,\"stale\":%s,\"instances\":%zu,\"revision\":%llu,"
			       "\"server\":\"%s\"}\n",
					r->stale ? "true" : "false", r->n_instances,
					(unsigned long long)r->revision, r->server);
		}
		fflush(stdout);
		roster_result_free(r);
	}
	roster_client_free(c);
	return 0;
}

struct many_stats {
	unsigned long heartbeats, registered, failed, disconnects, lease_lost;
};

static void many_event_cb(const struct roster_event *ev, void *ud)
{
	struct many_stats *s = ud;
	switch (ev->kind) {
	case ROSTER_EVENT_HEARTBEAT:
		s->heartbeats++;
		break;
	case ROSTER_EVENT_REGISTERED:
		s->registered++;
		break;
	case ROSTER_EVENT_REGISTER_FAILED:
		s->failed++;
		break;
	case ROSTER_EVENT_DISCONNECTED:
		s->disconnects++;
		break;
	case ROSTER_EVENT_LEASE_LOST:
		s->lease_lost++;
		break;
	default:
		break;
	}
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void many_stop_cb(uv_timer_t *t)
{
	(void)t;
	uv_stop(t->loop);
}

static int cmd_many(const struct opts *o)
{
	/* A thousand connections need a thousand descriptors. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct many_stats st = {0};
	struct roster_client **cs = calloc(o->clients, sizeof(*cs));
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct roster_config cfg = config(o);
	cfg.event_cb = many_event_cb;
	cfg.event_ud = &st;
	int rc = 0;
	for (unsigned i = 0; i < o->clients && rc == 0; i++) {
		rc = roster_client_new(&cfg, &cs[i]);
		if (rc == 0) {
			rc = add_endpoints(cs[i], o, i, 1);
		}
		if (rc == 0) {
			rc = roster_client_start_loop(cs[i], &loop);
		}
	}
	if (rc != 0) {
		fprintf(stderr, "roster-probe: %s\n", roster_strerror(rc));
		return 1;
	}
	/* Warm up until every client registered, then measure. */
	uv_timer_t stop;
	uv_timer_init(&loop, &stop);
	uv_timer_start(&stop, many_stop_cb, 2000 + o->ttl * 1000u / 3u, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	unsigned long hb0 = st.heartbeats;
	double cpu0 = cpu_seconds();
	uv_timer_start(&stop, many_stop_cb, o->seconds * 1000u, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	double cpu = cpu_seconds() - cpu0;
	unsigned long beats = st.heartbeats - hb0;
	printf("{\"clients\":%u,\"registered\":%lu,\"failed\":%lu,\"disconnects\":%lu,"
	       "\"lease_lost\":%lu,\"heartbeats\":%lu,\"seconds\":%u,\"cpu_seconds\":%.3f,"
	       "\"cpu_us_per_heartbeat\":%.1f}\n",
			o->clients, st.registered, st.failed, st.disconnects, st.lease_lost, beats,
			o->seconds, cpu, beats > 0 ? cpu * 1e6 / (double)beats : 0.0);
	fflush(stdout);
	/* Hold the leases until told (a line or EOF on stdin), so the test can
	 * look at the registry meanwhile. */
	char line[16];
	if (fgets(line, sizeof(line), stdin) == NULL) {
		line[0] = '\0';
	}
	for (unsigned i = 0; i < o->clients; i++) {
		roster_client_stop(cs[i]);
	}
	uv_close((uv_handle_t *)&stop, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	int closed = uv_loop_close(&loop);
	for (unsigned i = 0; i < o->clients; i++) {
		roster_client_free(cs[i]);
	}
	free(cs);
	printf("{\"event\":\"stopped\",\"loop_close\":%d}\n", closed);
	return closed == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct opts o = {.ttl = 10,
			.endpoints = 1,
			.clients = 10,
			.seconds = 5,
			.port_base = 8000,
			.service = "probe",
			.protocol = "tcp",
			.host_prefix = "probe"};
	if (argc < 2) {
		fprintf(stderr, "usage: roster-probe hold|query|many [options]\n");
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		const char *k = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(k, "--loop") == 0) {
			o.loop = 1;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "roster-probe: %s needs a value\n", k);
			return 2;
		}
		i++;
		if (strcmp(k, "--server") == 0 && o.n_servers < 8) {
			o.servers[o.n_servers++] = v;
		} else if (strcmp(k, "--site") == 0 && o.site_servers == NULL) {
			if (roster_site_servers(v, NULL, &o.site_servers, &o.n_site_servers) != 0) {
				fprintf(stderr, "roster-probe: %s\n", roster_errmsg());
				return 2;
			}
			for (size_t j = 0; j < o.n_site_servers && o.n_servers < 8; j++) {
				o.servers[o.n_servers++] = o.site_servers[j];
			}
		} else if (strcmp(k, "--ttl") == 0) {
			o.ttl = (unsigned)atoi(v);
		} else if (strcmp(k, "--endpoints") == 0) {
			o.endpoints = (unsigned)atoi(v);
		} else if (strcmp(k, "--clients") == 0) {
			o.clients = (unsigned)atoi(v);
		} else if (strcmp(k, "--seconds") == 0) {
			o.seconds = (unsigned)atoi(v);
		} else if (strcmp(k, "--port-base") == 0) {
			o.port_base = (unsigned)atoi(v);
		} else if (strcmp(k, "--max-stale") == 0) {
			o.max_stale = (unsigned)atoi(v);
		} else if (strcmp(k, "--backoff-max") == 0) {
			o.backoff_max = (unsigned)atoi(v);
		} else if (strcmp(k, "--timeout") == 0) {
			o.timeout = (unsigned)atoi(v);
		} else if (strcmp(k, "--service") == 0) {
			o.service = v;
		} else if (strcmp(k, "--protocol") == 0) {
			o.protocol = v;
		} else if (strcmp(k, "--host-prefix") == 0) {
			o.host_prefix = v;
		} else if (strcmp(k, "--cache") == 0) {
			o.cache = v;
		} else {
			fprintf(stderr, "roster-probe: unknown option %s\n", k);
			return 2;
		}
	}
	int rc = 2;
	if (strcmp(argv[1], "hold") == 0) {
		rc = cmd_hold(&o);
	} else if (strcmp(argv[1], "query") == 0) {
		rc = cmd_query(&o);
	} else if (strcmp(argv[1], "many") == 0) {
		rc = cmd_many(&o);
	} else {
		fprintf(stderr, "roster-probe: unknown mode %s\n", argv[1]);
	}
	roster_site_servers_free(o.site_servers, o.n_site_servers);
	return rc;
}
