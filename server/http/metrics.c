#include "server/http/metrics.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/addr.h"
#include "common/error.h"
#include "roster/version.h"
#include "server/dns/answer.h"
#include "server/registry/store.h"
#include "server/stats.h"

/* ---- shared helpers ----------------------------------------------------- */

static const char *status_name(uint8_t status)
{
	switch (status) {
	case STORE_STATUS_STARTING:
		return "STARTING";
	case STORE_STATUS_UP:
		return "UP";
	case STORE_STATUS_DOWN:
		return "DOWN";
	default:
		return "UNKNOWN";
	}
}

/* "2026-11-25 00:58:07" (UTC), the CLI's format. */
static void time_format(uint64_t wall_ms, char out[32])
{
	time_t secs = (time_t)(wall_ms / 1000u);
	struct tm tm;
	if (gmtime_r(&secs, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
		snprintf(out, 32, "?");
	}
}

/* ---- Prometheus ---------------------------------------------------------- */

/* HELP text and label values: backslash, double quote and newline are the
 * only characters the format escapes (exposition format 0.0.4). */
static void prom_escape(struct rs_buf *t, const char *s, bool quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\') {
			rs_buf_add(t, "\\\\", 2);
		} else if (*s == '\n') {
			rs_buf_add(t, "\\n", 2);
		} else if (*s == '"' && quote) {
			rs_buf_add(t, "\\\"", 2);
		} else {
			rs_buf_add(t, s, 1);
		}
	}
}

static void prom_family(struct rs_buf *t, const char *name, const char *type, const char *help)
{
	rs_buf_printf(t, "# HELP %s ", name);
	prom_escape(t, help, false);
	rs_buf_printf(t, "\n# TYPE %s %s\n", name, type);
}

static void prom_value(struct rs_buf *t, const char *name, uint64_t v)
{
	rs_buf_printf(t, "%s %" PRIu64 "\n", name, v);
}

static void prom_labelled(struct rs_buf *t, const char *name, const char *label, const char *value,
		uint64_t v)
{
	rs_buf_printf(t, "%s{%s=\"", name, label);
	prom_escape(t, value, true);
	rs_buf_printf(t, "\"} %" PRIu64 "\n", v);
}

static void prom_one(
		struct rs_buf *t, const char *name, const char *type, const char *help, uint64_t v)
{
	prom_family(t, name, type, help);
	prom_value(t, name, v);
}

/* A family with one unlabelled sample: the metric lists below are tables. */
struct prom_scalar {
	const char *name;
	const char *type;
	const char *help;
	uint64_t value;
};

static void prom_scalars(struct rs_buf *t, const struct prom_scalar *m, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		prom_one(t, m[k].name, m[k].type, m[k].help, m[k].value);
	}
}

static void prom_double(
		struct rs_buf *t, const char *name, const char *type, const char *help, double v)
{
	prom_family(t, name, type, help);
	rs_buf_printf(t, "%s %.6f\n", name, v);
}

/* A sample of a family with one label. */
struct prom_sample {
	const char *label_value;
	uint64_t value;
};

static void prom_labelled_family(struct rs_buf *t, const char *name, const char *type,
		const char *help, const char *label, const struct prom_sample *s, size_t n)
{
	prom_family(t, name, type, help);
	for (size_t k = 0; k < n; k++) {
		prom_labelled(t, name, label, s[k].label_value, s[k].value);
	}
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Labels of the answer engine's query-type buckets (enum answer_qtype_bucket). */
static const char *const qtype_names[ANSWER_Q_COUNT] = {
		[ANSWER_Q_A] = "A",
		[ANSWER_Q_AAAA] = "AAAA",
		[ANSWER_Q_SRV] = "SRV",
		[ANSWER_Q_TXT] = "TXT",
		[ANSWER_Q_SOA] = "SOA",
		[ANSWER_Q_NS] = "NS",
		[ANSWER_Q_ANY] = "ANY",
		[ANSWER_Q_OTHER] = "other",
};

static const char *const transport_names[2] = {[ANSWER_UDP] = "udp", [ANSWER_TCP] = "tcp"};

/* RFC 6895 2.3: rcodes by their names (rosterd sends 0-5, NOTAUTH for TSIG,
 * BADVERS and BADCOOKIE), any other by number. */
static void rcode_name(unsigned rcode, char out[16])
{
	static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
			"REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"};
	if (rcode < sizeof(names) / sizeof(names[0])) {
		snprintf(out, 16, "%s", names[rcode]);
	} else if (rcode == 16) {
		snprintf(out, 16, "BADVERS");
	} else if (rcode == 23) {
		snprintf(out, 16, "BADCOOKIE");
	} else {
		snprintf(out, 16, "%u", rcode);
	}
}

/* The published zone: serial, versions, journal (docs/dns.md "Zone versions"). */
static void prom_dns_zone(struct rs_buf *t, const struct stats_dns *dns)
{
	const struct xfr_zone_counters *z = dns->running ? &dns->zone : NULL;
	prom_family(t, "roster_dns_zone_serial", "gauge",
			"SOA serial of the published zone version (0: no versions without "
			"--xfr-allow; during --xfr-warmup, the older placeholder its SOA carries).");
	if (z != NULL) {
		prom_value(t, "roster_dns_zone_serial", z->serial);
	}
	prom_family(t, "roster_dns_zone_warming", "gauge",
			"1 while --xfr-warmup holds the first zone version (a start with an "
			"empty store): transfers refused, no NOTIFY.");
	if (z != NULL) {
		prom_value(t, "roster_dns_zone_warming", z->warming ? 1 : 0);
	}
	prom_family(t, "roster_dns_zone_versions_total", "counter",
			"Zone versions published (at most one per --notify-interval).");
	if (z != NULL) {
		prom_value(t, "roster_dns_zone_versions_total", z->versions);
	}
	prom_family(t, "roster_dns_zone_journal_bytes", "gauge",
			"Octets of zone differences kept for IXFR.");
	if (z != NULL) {
		prom_value(t, "roster_dns_zone_journal_bytes", z->journal_bytes);
	}
}

/* roster_dns_transfers_total{type,result} and the partial RRsets of transfers. */
static void prom_dns_transfers(struct rs_buf *t, const struct answer_counters *a)
{
	static const char *const types[ANSWER_XFR_TYPES] = {"axfr", "ixfr"};
	prom_family(t, "roster_dns_transfers_total", "counter",
			"Zone transfer requests, by type and result (full: the whole zone; "
			"incremental: an IXFR difference; soa: our SOA alone, an IXFR up to date or over UDP; refused_*, bad*: refusals "
			"by reason, docs/dns.md).");
	for (size_t k = 0; a != NULL && k < ANSWER_XFR_TYPES; k++) {
		for (size_t r = 0; r < ANSWER_XFR_RESULTS; r++) {
			rs_buf_printf(t,
					"roster_dns_transfers_total{type=\"%s\",result=\"%s\"} "
					"%" PRIu64 "\n",
					types[k], answer_xfr_result_name((unsigned)r),
					a->transfers[k][r]);
		}
	}
	prom_family(t, "roster_dns_transfer_partial_rrsets_total", "counter",
			"RRsets a zone transfer carried as a stable subset (too large for one "
			"message, or a partial _ring).");
	if (a != NULL) {
		prom_value(t, "roster_dns_transfer_partial_rrsets_total",
				a->transfer_partial_rrsets);
	}
	prom_family(t, "roster_dns_transfer_bytes_total", "counter",
			"Octets of zone transfer replies sent, by type (TCP framing included).");
	for (size_t k = 0; a != NULL && k < ANSWER_XFR_TYPES; k++) {
		prom_labelled(t, "roster_dns_transfer_bytes_total", "type", types[k],
				a->transfer_bytes[k]);
	}
}

/* The DNS answers' and transport's scalar counters and the TCP
 * connections closed or refused (with a DNS module only). */
static void prom_dns_transport(struct rs_buf *t, const struct answer_counters *a,
		const struct stats_dns_transport *d)
{
	const struct prom_scalar scalars[] = {
			{"roster_dns_dropped_total", "counter",
					"DNS messages not answered: garbage, responses, rate-limited.",
					a->dropped},
			{"roster_dns_stale_answers_total", "counter",
					"Answers carrying EDE Stale Answer (kept by self-preservation).",
					a->stale},
			{"roster_dns_tcp_connections", "gauge", "Open DNS TCP connections.",
					d->tcp_connections},
			{"roster_dns_tcp_connections_accepted_total", "counter",
					"DNS TCP connections accepted (and not closed at once by a cap).",
					d->tcp_accepted},
			{"roster_dns_tcp_read_pauses_total", "counter",
					"Times a DNS TCP connection's reading paused until the client read "
					"its answers.",
					d->tcp_read_paused},
			{"roster_dns_udp_send_errors_total", "counter",
					"UDP answers built and not sent: the kernel refused them (a full "
					"send buffer, a destination such as a broadcast address) or no send "
					"slot was free.",
					d->udp_send_dropped},
			{"roster_dns_udp_receive_drops_total", "counter",
					"UDP queries the kernel dropped at rosterd's sockets before they "
					"were read (a full receive buffer): /proc/net/udp's drops.",
					d->udp_receive_drops},
	};
	prom_scalars(t, scalars, ARRAY_LEN(scalars));
	const struct prom_sample closed[] = {
			{"idle", d->tcp_idle_closed},
			{"malformed", d->tcp_bad_length},
	};
	prom_labelled_family(t, "roster_dns_tcp_closed_total", "counter",
			"DNS TCP connections we closed, by why (idle: the --tcp-idle-timeout "
			"deadline passed: an idle, stalled or never-reading client; malformed: a "
			"length prefix no query has).",
			"reason", closed, ARRAY_LEN(closed));
	const struct prom_sample rejected[] = {
			{"limit", d->tcp_rejected},
			{"per_source", d->tcp_rejected_source},
	};
	prom_labelled_family(t, "roster_dns_tcp_rejected_total", "counter",
			"DNS TCP connections accepted and closed at once, by the cap they hit "
			"(limit: --tcp-max-connections; per_source: "
			"--tcp-max-connections-per-source).",
			"reason", rejected, ARRAY_LEN(rejected));
}

/* The DNS families: announced always, so dashboards and alerts can be
 * written before the first query; the samples come from the DNS module. */
static void prom_dns(struct rs_buf *t, const struct stats_snapshot *snap)
{
	/* Without a DNS module the families are announced with no sample. */
	const struct answer_counters *a = snap->dns.running ? &snap->dns.answers : NULL;
	const struct stats_dns_transport *d = snap->dns.running ? &snap->dns.transport : NULL;
	const struct report_counters *r = snap->dns.running ? &snap->dns.reports : NULL;

	prom_family(t, "roster_dns_queries_total", "counter",
			"DNS queries received, by query type and transport.");
	for (size_t q = 0; a != NULL && q < ANSWER_Q_COUNT; q++) {
		for (size_t tr = 0; tr < 2; tr++) {
			rs_buf_printf(t,
					"roster_dns_queries_total{qtype=\"%s\",transport=\"%s\"} "
					"%" PRIu64 "\n",
					qtype_names[q], transport_names[tr], a->queries[q][tr]);
		}
	}
	prom_family(t, "roster_dns_responses_total", "counter", "DNS responses sent, by rcode.");
	for (size_t k = 0; a != NULL && k < sizeof(a->responses) / sizeof(a->responses[0]); k++) {
		/* The usual four always, the others once seen: a stable series
		 * set without a page of zeros. */
		if (a->responses[k] > 0 || k == 0 || k == 2 || k == 3 || k == 5) {
			char name[16];
			rcode_name((unsigned)k, name);
			prom_labelled(t, "roster_dns_responses_total", "rcode", name,
					a->responses[k]);
		}
	}
	prom_family(t, "roster_dns_truncated_total", "counter",
			"UDP responses sent with TC=1 (the resolver retries over TCP).");
	if (a != NULL) {
		prom_value(t, "roster_dns_truncated_total", a->truncated);
	}
	prom_family(t, "roster_dns_partial_answers_total", "counter",
			"TCP responses carrying a subset of an RRset too large for 65,535 bytes.");
	if (a != NULL) {
		prom_value(t, "roster_dns_partial_answers_total", a->partial);
	}
	prom_dns_transfers(t, a);
	prom_dns_zone(t, &snap->dns);
	const struct prom_sample bytes[] = {
			{"in", d != NULL ? d->bytes_in[ANSWER_UDP] + d->bytes_in[ANSWER_TCP] : 0},
			{"out", d != NULL ? d->bytes_out[ANSWER_UDP] + d->bytes_out[ANSWER_TCP]
					  : 0},
	};
	prom_labelled_family(t, "roster_dns_bytes_total", "counter",
			"DNS message bytes, by direction (in: queries, out: responses).",
			"direction", bytes, d != NULL ? ARRAY_LEN(bytes) : 0);
	const struct prom_sample cookies[] = {
			{"new", a != NULL ? a->cookies[0] : 0},
			{"good", a != NULL ? a->cookies[1] : 0},
			{"bad", a != NULL ? a->cookies[2] : 0},
	};
	prom_labelled_family(t, "roster_dns_cookies_total", "counter",
			"DNS queries with a COOKIE option, by what it held (new: a client cookie "
			"only; good: our valid server cookie; bad: a server cookie we replaced).",
			"result", cookies, a != NULL ? ARRAY_LEN(cookies) : 0);
	prom_family(t, "roster_client_reports_total", "counter",
			"Client error reports received over DNS, by error code.");
	if (r == NULL) {
		return;
	}
	/* One consistent view: the snapshot copied the reports under their lock. */
	for (size_t k = 0; k < r->ncodes; k++) {
		prom_labelled(t, "roster_client_reports_total", "code", r->codes[k].code,
				r->codes[k].count);
	}
	const struct prom_scalar extra[] = {
			{"roster_client_reports_uncounted_total", "counter",
					"Client reports past the first distinct codes, counted together.",
					r->other},
			{"roster_client_reports_malformed_total", "counter",
					"Queries in the report zone that were not a valid report.",
					r->malformed},
			{"roster_client_reports_limited_total", "counter",
					"Client reports dropped by the per-source rate limit.",
					r->limited},
			{"roster_client_reports_log_errors_total", "counter",
					"Client reports counted but not logged: the log could not be written.",
					r->log_errors},
	};
	prom_scalars(t, extra, ARRAY_LEN(extra));
	prom_dns_transport(t, a, d);
}

/* Response rate limiting (--rrl-rate): announced with no sample without DNS. */
static void prom_dns_rrl(struct rs_buf *t, const struct stats_snapshot *snap)
{
	const struct stats_dns_transport *d = &snap->dns.transport;
	const struct prom_sample rrl[] = {
			{"dropped", d->rrl_dropped},
			{"slipped", d->rrl_slipped},
	};
	prom_labelled_family(t, "roster_dns_rrl_total", "counter",
			"UDP responses over --rrl-rate, by what became of them (dropped; slipped: "
			"sent truncated, TC=1, every --rrl-slip-th).",
			"action", rrl, snap->dns.running ? ARRAY_LEN(rrl) : 0);
}

/* The address ACLs: every listener, zero where it has none. */
static void prom_acl(struct rs_buf *t, const struct stats_snapshot *snap)
{
	static const char *const names[STATS_LISTENERS] = {"api", "dns", "http"};
	struct prom_sample refused[STATS_LISTENERS], dry[STATS_LISTENERS];
	for (size_t k = 0; k < STATS_LISTENERS; k++) {
		refused[k] = (struct prom_sample){names[k], snap->acl.refused[k]};
		dry[k] = (struct prom_sample){names[k], snap->acl.dry_run[k]};
	}
	prom_labelled_family(t, "roster_acl_refused_total", "counter",
			"Sources refused by a listener's address ACL (--api-allow, --dns-allow, "
			"--http-allow): TCP connections closed at accept, UDP queries answered "
			"REFUSED.",
			"listener", refused, STATS_LISTENERS);
	prom_labelled_family(t, "roster_acl_dry_run_total", "counter",
			"Sources an address ACL would have refused, served under --acl-dry-run.",
			"listener", dry, STATS_LISTENERS);
}

static void prom_store(struct rs_buf *t, const struct stats_snapshot *snap)
{
	const struct store_sizes sz = snap->store.sizes;
	const struct store_counters *ct = &snap->store.counters;
	const struct prom_scalar before[] = {
			{"roster_registrations_total", "counter",
					"Register operations applied (new instances and updates).",
					ct->registrations},
			{"roster_deregistrations_total", "counter",
					"Instances removed by Deregister.", ct->deregistrations},
	};
	const struct prom_sample instances[] = {
			{"up", sz.up},
			{"down", sz.down},
			{"starting", sz.starting},
	};
	const struct prom_scalar after[] = {
			{"roster_instances_stale", "gauge",
					"Instances kept past their lease (self-preservation, --keep-last).",
					sz.stale},
			{"roster_instances_pending", "gauge",
					"Expired instances held for a TTL by --keep-last, not served, in case "
					"the rest of their service stops too.",
					sz.pending},
			{"roster_services", "gauge", "Registered (service, protocol) pairs.",
					sz.services},
			{"roster_leases", "gauge", "Live leases.", sz.leases},
			{"roster_heartbeats_total", "counter", "Lease renewals.", ct->heartbeats},
			{"roster_expirations_total", "counter",
					"Instances removed because their lease expired.",
					ct->expirations},
			{"roster_leases_expired_total", "counter", "Leases expired.",
					ct->leases_expired},
			{"roster_self_preservation", "gauge",
					"1 while expiry is suspended by self-preservation, else 0.",
					snap->store.preserving ? 1 : 0},
			{"roster_self_preservation_entered_total", "counter",
					"Times self-preservation was entered.",
					ct->preserve_entered},
			{"roster_revision", "gauge",
					"Registry revision (the DNS SOA serial follows it).",
					snap->store.revision},
	};
	prom_scalars(t, before, ARRAY_LEN(before));
	prom_labelled_family(t, "roster_instances", "gauge", "Registered instances, by status.",
			"status", instances, ARRAY_LEN(instances));
	prom_scalars(t, after, ARRAY_LEN(after));
}

static void prom_api(struct rs_buf *t, const struct stats_snapshot *snap)
{
	const struct api_counters *a = &snap->api;
	const struct prom_scalar scalars[] = {
			{"roster_api_connections", "gauge", "Open registration API connections.",
					a->connections},
			{"roster_api_connections_accepted_total", "counter",
					"Registration API connections accepted.", a->accepted},
			{"roster_api_requests_total", "counter", "Registration API requests.",
					a->requests},
			{"roster_api_errors_total", "counter", "Registration API error responses.",
					a->errors},
			{"roster_api_tokens", "gauge", "API tokens loaded (--api-tokens).",
					a->tokens},
			{"roster_api_token_reload_failures_total", "counter",
					"SIGHUPs whose token file was refused (the old tokens stay).",
					a->tokens_reload_failures},
			{"roster_api_audit_lines_total", "counter", "Lines written to --audit-log.",
					a->audit_lines},
			{"roster_api_audit_errors_total", "counter",
					"Audit lines lost (a full disk, a failed rotation).",
					a->audit_errors},
	};
	const struct prom_sample refused[] = {
			{"unauthenticated", a->refused_unauthenticated},
			{"scope", a->refused_scope},
			{"owner", a->refused_owner},
			{"bad_token", a->refused_bad_token},
	};
	const struct prom_sample closed[] = {
			{"idle", a->idle_closed},
			{"slow_reader", a->slow_closed},
			{"malformed", a->malformed},
			{"oversized", a->oversized},
	};
	/* Refused while stopping counts under "limit": there is no room then. */
	const struct prom_sample rejected[] = {
			{"limit", a->rejected - a->rejected_source},
			{"per_source", a->rejected_source},
	};
	prom_scalars(t, scalars, ARRAY_LEN(scalars));
	prom_labelled_family(t, "roster_api_connections_rejected_total", "counter",
			"Registration API connections refused, by the cap they hit (limit: "
			"--max-connections; per_source: --max-connections-per-source).",
			"reason", rejected, ARRAY_LEN(rejected));
	prom_labelled_family(t, "roster_api_closed_total", "counter",
			"Registration API connections closed by the server, by reason.", "reason",
			closed, ARRAY_LEN(closed));
	prom_labelled_family(t, "roster_api_refused_total", "counter",
			"API requests answered PERMISSION_DENIED, by reason (unauthenticated, "
			"scope, owner, bad_token).",
			"reason", refused, ARRAY_LEN(refused));
}

static void prom_persist(struct rs_buf *t, const struct stats_snapshot *snap)
{
	const struct stats_persist *p = &snap->persist;
	const struct prom_scalar scalars[] = {
			{"roster_store_bytes", "gauge", "Bytes used in the LMDB store.", p->bytes},
			{"roster_store_map_bytes", "gauge",
					"Size of the LMDB map (grows up to --map-max).",
					p->map_bytes},
			{"roster_store_commits_total", "counter", "LMDB group commits.",
					p->commits},
			{"roster_store_commit_failures_total", "counter",
					"LMDB group commits that failed (their writes were refused).",
					p->commit_failures},
			{"roster_backups_total", "counter", "Hot backups of the store written.",
					p->backups},
			{"roster_backup_failures_total", "counter", "Hot backups that failed.",
					p->backup_failures},
			{"roster_backup_last_timestamp_seconds", "gauge",
					"When the last backup was written (Unix time; 0: none yet).",
					p->backup_last_wall_ms / 1000},
			{"roster_backup_last_bytes", "gauge", "Size of the last backup, bytes.",
					p->backup_last_bytes},
	};
	prom_scalars(t, scalars, ARRAY_LEN(scalars));
	/* In seconds, as Prometheus names units (promtool check metrics). */
	prom_double(t, "roster_backup_last_duration_seconds", "gauge",
			"How long the last backup took, s.",
			(double)p->backup_last_duration_ms / 1000.0);
}

static void prom_http(struct rs_buf *t, const struct stats_snapshot *snap)
{
	prom_family(t, "roster_http_requests_total", "counter",
			"HTTP requests answered, by status code.");
	const struct stats_http *h = &snap->http;
	if (!h->running) {
		return;
	}
	for (size_t k = 0; k < h->nresponses; k++) {
		if (h->responses[k].count > 0) {
			char code[16];
			snprintf(code, sizeof(code), "%u", h->responses[k].code);
			prom_labelled(t, "roster_http_requests_total", "code", code,
					h->responses[k].count);
		}
	}
	prom_one(t, "roster_http_connections", "gauge", "Open HTTP connections.", h->connections);
	prom_one(t, "roster_http_connections_rejected_total", "counter",
			"HTTP connections answered 503 at --http-max-connections.", h->rejected);
}

/* NOTIFY to the secondaries: announced always, samples with --notify. */
static void prom_notify(struct rs_buf *t, const struct stats_snapshot *snap)
{
	const struct stats_notify *n = &snap->notify;
	const struct prom_sample results[] = {{"sent", n->sent}, {"retried", n->retried},
			{"acked", n->acked}, {"failed", n->failed}};
	prom_labelled_family(t, "roster_dns_notify_total", "counter",
			"NOTIFY messages to --notify secondaries: sent (a new serial), retried "
			"(sent again, unacknowledged), acked (NOERROR), failed (another rcode, "
			"or not sent).",
			"result", results, n->running ? ARRAY_LEN(results) : 0);
}

/* --static: announced always, so an alert can watch roster_static_ok. */
static void prom_static(struct rs_buf *t, const struct stats_snapshot *snap)
{
	const struct stats_static *s = &snap->statics;
	const struct prom_scalar scalars[] = {
			{"roster_static_ok", "gauge",
					"1 when the last read of the --static file was good (or there "
					"is none); 0 when it was refused and the previous set stayed.",
					!s->configured || s->ok ? 1 : 0},
			{"roster_static_instances", "gauge",
					"Static instances served (from --static).", s->instances},
			{"roster_static_load_errors_total", "counter",
					"Reads of the --static file refused (a bad line, unreadable).",
					s->load_errors},
			{"roster_static_loads_total", "counter",
					"Reads of the --static file applied (at start and on SIGHUP).",
					s->loads},
	};
	prom_scalars(t, scalars, ARRAY_LEN(scalars));
}

/* A histogram of ns observations, in seconds: cumulative buckets, sum, count. */
static void prom_histogram(
		struct rs_buf *t, const char *name, const char *help, const struct rs_hist *h)
{
	prom_family(t, name, "histogram", help);
	uint64_t cum = 0;
	for (unsigned i = 0; i <= RS_HIST_NBOUNDS; i++) {
		cum += h->buckets[i];
		if (i < RS_HIST_NBOUNDS) {
			rs_buf_printf(t, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
					(double)rs_hist_bound(i) / 1e9, cum);
		} else {
			rs_buf_printf(t, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
		}
	}
	rs_buf_printf(t, "%s_sum %.9f\n%s_count %" PRIu64 "\n", name, (double)h->sum_ns / 1e9, name,
			h->count);
}

/* The standard process_* families (Prometheus client conventions). */
static void prom_process(struct rs_buf *t, const struct rs_procstat *p)
{
	if (p->ok) {
		prom_double(t, "process_cpu_seconds_total", "counter",
				"Total user and system CPU time spent in seconds.", p->cpu_seconds);
		prom_one(t, "process_resident_memory_bytes", "gauge",
				"Resident memory size in bytes.", p->resident_bytes);
		prom_one(t, "process_virtual_memory_bytes", "gauge",
				"Virtual memory size in bytes.", p->virtual_bytes);
		if (p->start_time_seconds > 0) {
			prom_double(t, "process_start_time_seconds", "gauge",
					"Start time of the process since unix epoch in seconds.",
					p->start_time_seconds);
		}
	}
	if (p->fds_ok) {
		prom_one(t, "process_open_fds", "gauge", "Number of open file descriptors.",
				p->open_fds);
		prom_one(t, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
				p->max_fds);
	}
}

static void prom_latency(struct rs_buf *t, const struct stats_snapshot *snap)
{
	prom_histogram(t, "roster_dns_answer_duration_seconds",
			"UDP DNS answer time, from reading a batch of queries to sending its "
			"answers, counted once per answer.",
			&snap->dns.transport.udp_answer_time);
	prom_histogram(t, "roster_api_write_ack_duration_seconds",
			"Write acknowledgement time, from handing a group commit to the LMDB "
			"writer to sending its replies, counted once per write.",
			&snap->persist.ack_time);
	prom_one(t, "roster_store_map_max_bytes", "gauge",
			"The largest the LMDB map grows to (--map-max).", snap->persist.map_max);
}

int metrics_prometheus_render(const struct stats_snapshot *snap, struct rs_buf *out)
{
	prom_latency(out, snap);
	prom_process(out, &snap->process);
	prom_dns(out, snap);
	prom_dns_rrl(out, snap);
	prom_store(out, snap);
	prom_api(out, snap);
	prom_persist(out, snap);
	prom_http(out, snap);
	prom_notify(out, snap);
	prom_acl(out, snap);
	prom_static(out, snap);
	prom_one(out, "roster_uptime_seconds", "gauge", "Seconds since rosterd started.",
			snap->uptime_ms / 1000u);
	prom_family(out, "roster_build_info", "gauge",
			"Always 1; the labels say which rosterd serves which zone.");
	rs_buf_str(out, "roster_build_info{version=\"");
	prom_escape(out, ROSTER_VERSION, true);
	rs_buf_str(out, "\",site=\"");
	prom_escape(out, snap->site, true);
	rs_buf_str(out, "\",zone=\"");
	prom_escape(out, snap->zone, true);
	rs_buf_str(out, "\"} 1\n");
	return rs_buf_error(out);
}

/* ---- JSON ------------------------------------------------------------------ */

/* jansson reports failure as NULL or -1; every one of them here means it
 * could not allocate. */
static int json_put(json_t *obj, const char *key, json_t *value)
{
	return value != NULL && json_object_set_new(obj, key, value) == 0 ? 0 : RS_ENOMEM;
}

static json_t *instance_json(const struct store_instance *i)
{
	json_t *addrs = json_array();
	json_t *meta = json_object();
	int rc = addrs != NULL && meta != NULL ? 0 : RS_ENOMEM;
	for (size_t k = 0; rc == 0 && k < i->naddrs; k++) {
		char text[RS_ADDR_TEXT_MAX];
		if (rs_addr_format(&i->addrs[k], text) < 0 ||
				json_array_append_new(addrs, json_string(text)) != 0) {
			rc = RS_ENOMEM;
		}
	}
	for (size_t k = 0; rc == 0 && k < i->nmeta; k++) {
		rc = json_put(meta, i->meta[k].key, json_string(i->meta[k].value));
	}
	if (rc < 0) {
		json_decref(addrs);
		json_decref(meta);
		return NULL;
	}
	/* "o" steals addrs and meta, also when json_pack fails (jansson >= 2.11). */
	return json_pack("{s:s, s:i, s:o, s:i, s:i, s:s, s:b, s:s, s:I, s:I, s:I, s:o}", "host",
			i->host, "port", (int)i->port, "addresses", addrs, "priority",
			(int)i->priority, "weight", (int)i->weight, "status",
			status_name(i->status), "stale", (int)i->stale, "expiry",
			i->lease != NULL ? "TIMED"
			: i->fixed       ? "STATIC"
					 : "NEVER",
			"registered_at_ms", (json_int_t)i->registered_at_ms, "status_since_ms",
			(json_int_t)i->status_since_ms, "revision", (json_int_t)i->revision,
			"metadata", meta);
}

static json_t *service_json(const struct store_service *s)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "service", s->name, "protocol",
			s->protocol, "instances_total", (json_int_t)s->ninstances, "up",
			(json_int_t)s->nup, "stale", (json_int_t)s->nstale, "revision",
			(json_int_t)s->revision);
	json_t *list = json_array();
	int rc = o != NULL && list != NULL ? 0 : RS_ENOMEM;
	for (uint32_t k = 0; rc == 0 && k < s->ninstances; k++) {
		json_t *i = instance_json(s->instances[k]);
		if (i == NULL || json_array_append_new(list, i) != 0) {
			rc = RS_ENOMEM;
		}
	}
	if (rc == 0) {
		rc = json_put(o, "instances", list);
		list = NULL;
	}
	json_decref(list);
	if (rc < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

struct json_walk {
	json_t *list;
	int rc;
};

static int services_json_one(const struct store_service *s, void *ud)
{
	struct json_walk *w = ud;
	json_t *o = service_json(s);
	if (o == NULL || json_array_append_new(w->list, o) != 0) {
		w->rc = RS_ENOMEM;
		return 1; /* stop the walk */
	}
	return 0;
}

/* json_dump_callback's sink. */
static int json_sink(const char *buf, size_t size, void *data)
{
	struct rs_buf *t = data;
	rs_buf_add(t, buf, size);
	return t->err == 0 ? 0 : -1;
}

int metrics_services_json(
		const struct stats_snapshot *snap, const struct store *store, struct rs_buf *out)
{
	const struct stats_store *st = &snap->store;
	json_t *root = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:I}", "site", snap->site,
			"domain", snap->domain, "zone", snap->zone, "revision",
			(json_int_t)st->revision, "mode", st->preserving ? "preserving" : "normal",
			"leases", (json_int_t)st->sizes.leases, "instances",
			(json_int_t)st->sizes.instances, "uptime_ms", (json_int_t)snap->uptime_ms);
	json_t *list = json_array();
	int rc = root != NULL && list != NULL ? 0 : RS_ENOMEM;
	if (rc == 0) {
		struct json_walk w = {list, 0};
		rc = store_service_foreach(store, services_json_one, &w);
		rc = rc != 0 ? rc : w.rc;
	}
	if (rc == 0) {
		rc = json_put(root, "services", list);
		list = NULL;
	}
	if (rc == 0 && json_dump_callback(root, json_sink, out, JSON_COMPACT) != 0) {
		rc = RS_ENOMEM;
	}
	rs_buf_add(out, "\n", 1);
	json_decref(list);
	json_decref(root);
	return rc < 0 ? rc : rs_buf_error(out);
}

/* ---- the status page ------------------------------------------------------- */

/* Everything from the store is escaped, though names are DNS labels today:
 * metadata is free text, and the page must stay safe if names widen. */
static void html_escape(struct rs_buf *t, const char *s)
{
	static const char specials[] = "&<>\"'";
	static const char *const entities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
	for (; *s != '\0'; s++) {
		const char *special = strchr(specials, *s);
		if (special != NULL) {
			rs_buf_str(t, entities[special - specials]);
		} else {
			rs_buf_add(t, s, 1);
		}
	}
}

static const char page_head[] =
		"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		"<meta http-equiv=\"refresh\" content=\"10\">\n"
		"<style>\n"
		"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
		"h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.5em 0 .3em}\n"
		"table{border-collapse:collapse;margin:.3em 0}\n"
		"th,td{padding:.2em .8em;text-align:left;border-bottom:1px solid #ddd}\n"
		"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\n"
		"code{font:13px ui-monospace,monospace}\n"
		".mode{display:inline-block;padding:.3em .8em;border-radius:4px;font-weight:bold}\n"
		".normal{background:#d7f0d9;color:#14521b}.preserving{background:#ffd8d0;color:#"
		"8a1500}\n"
		".UP{color:#14521b}.DOWN{color:#8a1500}.STARTING{color:#7a5a00}.stale{color:#"
		"8a1500}\n"
		".none{color:#888}\n"
		"</style>\n";

static void page_summary(struct rs_buf *t, const struct stats_snapshot *snap)
{
	const struct store_sizes sz = snap->store.sizes;
	bool preserving = snap->store.preserving;
	rs_buf_str(t, "<title>Roster ");
	html_escape(t, snap->site);
	rs_buf_str(t, "</title>\n</head>\n<body>\n<h1>Roster <code>");
	html_escape(t, snap->zone);
	rs_buf_str(t, "</code></h1>\n<p id=\"mode\">");
	if (preserving) {
		rs_buf_str(t, "<span class=\"mode preserving\">SELF-PRESERVATION</span> Leases "
			      "expired too fast to be believed: expiry is suspended and the last "
			      "known endpoints are served, marked stale.");
	} else {
		rs_buf_str(t, "<span class=\"mode normal\">NORMAL</span> Leases expire as they "
			      "should.");
	}
	char started[32];
	time_format(snap->start_wall_ms, started);
	rs_buf_printf(t,
			"</p>\n<table id=\"summary\">\n"
			"<tr><th>revision</th><td class=\"n\">%" PRIu64 "</td></tr>\n"
			"<tr><th>services</th><td class=\"n\">%" PRIu64 "</td></tr>\n"
			"<tr><th>instances</th><td class=\"n\">%" PRIu64 "</td><td>%" PRIu64
			" up, %" PRIu64 " down, %" PRIu64 " starting, %" PRIu64 " stale</td></tr>\n"
			"<tr><th>leases</th><td class=\"n\">%" PRIu64 "</td></tr>\n"
			"<tr><th>site</th><td>",
			snap->store.revision, sz.services, sz.instances, sz.up, sz.down,
			sz.starting, sz.stale, sz.leases);
	html_escape(t, snap->site);
	rs_buf_printf(t,
			"</td></tr>\n<tr><th>started</th><td>%s UTC</td><td>up %" PRIu64
			" s</td></tr>\n</table>\n",
			started, snap->uptime_ms / 1000u);
}

/* A count cell: zeros fade, so the eye lands on what is not. */
static void page_count(struct rs_buf *t, const char *cls, uint32_t n)
{
	rs_buf_printf(t, "<td class=\"n %s\">%" PRIu32 "</td>", n > 0 ? cls : "none", n);
}

/* "_name._protocol", escaped: a service's owner label, its anchor's id. */
static void page_service_label(struct rs_buf *t, const struct store_service *s)
{
	rs_buf_str(t, "_");
	html_escape(t, s->name);
	rs_buf_str(t, "._");
	html_escape(t, s->protocol);
}

static int page_service_row(const struct store_service *s, void *ud)
{
	struct rs_buf *t = ud;
	uint32_t down = 0, starting = 0;
	for (uint32_t k = 0; k < s->ninstances; k++) {
		down += s->instances[k]->status == STORE_STATUS_DOWN;
		starting += s->instances[k]->status == STORE_STATUS_STARTING;
	}
	rs_buf_str(t, "<tr><td><a href=\"#");
	page_service_label(t, s);
	rs_buf_str(t, "\">");
	html_escape(t, s->name);
	rs_buf_str(t, "</a></td><td>");
	html_escape(t, s->protocol);
	rs_buf_str(t, "</td>");
	page_count(t, "", s->ninstances);
	/* No UP instance: DNS answers nothing for this service. That is red. */
	if (s->nup == 0 && s->ninstances > 0) {
		rs_buf_printf(t, "<td class=\"n DOWN\"><b>0</b></td>");
	} else {
		page_count(t, "UP", s->nup);
	}
	page_count(t, "DOWN", down);
	page_count(t, "STARTING", starting);
	page_count(t, "stale", s->nstale);
	rs_buf_str(t, "</tr>\n");
	return 0;
}

struct page_ctx {
	struct rs_buf *t;
	const char *zone;
};

static int page_service_detail(const struct store_service *s, void *ud)
{
	const struct page_ctx *ctx = ud;
	struct rs_buf *t = ctx->t;
	rs_buf_str(t, "<h2 id=\"");
	page_service_label(t, s);
	rs_buf_str(t, "\"><code>");
	page_service_label(t, s);
	rs_buf_str(t, ".");
	html_escape(t, ctx->zone);
	rs_buf_printf(t, "</code> (%" PRIu32 " instance%s)</h2>\n", s->ninstances,
			s->ninstances == 1 ? "" : "s");
	rs_buf_str(t, "<table>\n<tr><th>endpoint</th><th>addresses</th><th>status</th>"
		      "<th>expires</th><th class=\"n\">prio</th><th class=\"n\">weight</th>"
		      "<th>registered (UTC)</th></tr>\n");
	uint32_t shown = s->ninstances < METRICS_PAGE_INSTANCES ? s->ninstances
								: METRICS_PAGE_INSTANCES;
	for (uint32_t k = 0; k < shown; k++) {
		const struct store_instance *i = s->instances[k];
		rs_buf_str(t, "<tr><td><code>");
		html_escape(t, i->host);
		rs_buf_printf(t, ":%u</code></td><td><code>", i->port);
		for (size_t a = 0; a < i->naddrs; a++) {
			char addr[RS_ADDR_TEXT_MAX];
			if (rs_addr_format(&i->addrs[a], addr) >= 0) {
				rs_buf_str(t, a > 0 ? " " : "");
				html_escape(t, addr);
			}
		}
		char since[32];
		time_format(i->registered_at_ms, since);
		rs_buf_printf(t,
				"</code></td><td class=\"%s\">%s%s</td><td>%s</td>"
				"<td class=\"n\">%u</td><td class=\"n\">%u</td><td>%s</td></tr>\n",
				status_name(i->status), status_name(i->status),
				i->stale ? " <span class=\"stale\">(stale)</span>" : "",
				i->lease != NULL ? "TIMED"
				: i->fixed       ? "STATIC"
						 : "NEVER",
				i->priority, i->weight, since);
	}
	rs_buf_str(t, "</table>\n");
	if (shown < s->ninstances) {
		rs_buf_printf(t,
				"<p class=\"none\">and %" PRIu32
				" more: see <a href=\"/v1/services\">"
				"/v1/services</a></p>\n",
				s->ninstances - shown);
	}
	return 0;
}

int metrics_status_html(
		const struct stats_snapshot *snap, const struct store *store, struct rs_buf *out)
{
	rs_buf_str(out, page_head);
	page_summary(out, snap);
	rs_buf_str(out, "<h2>Services</h2>\n");
	if (snap->store.sizes.services == 0) {
		rs_buf_str(out, "<p class=\"none\" id=\"services\">No service is registered.</p>\n");
	} else {
		rs_buf_str(out, "<table id=\"services\">\n<tr><th>service</th><th>protocol</th>"
				"<th class=\"n\">instances</th><th class=\"n\">up</th>"
				"<th class=\"n\">down</th><th class=\"n\">starting</th>"
				"<th class=\"n\">stale</th></tr>\n");
		int rc = store_service_foreach(store, page_service_row, out);
		rs_buf_str(out, "</table>\n");
		struct page_ctx ctx = {out, snap->zone};
		if (rc == 0) {
			rc = store_service_foreach(store, page_service_detail, &ctx);
		}
		if (rc != 0) {
			return rc; /* never a page that lists fewer services than there are */
		}
	}
	rs_buf_str(out, "<p class=\"none\"><a href=\"/metrics\">/metrics</a> &middot; "
			"<a href=\"/v1/services\">/v1/services</a> &middot; "
			"<a href=\"/healthz\">/healthz</a> &middot; rosterd " ROSTER_VERSION
			"</p>\n</body>\n</html>\n");
	return rs_buf_error(out);
}
