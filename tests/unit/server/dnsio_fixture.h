/*
 * The DNS module's configuration as rosterd derives it from its flags, for
 * the unit tests that start a dnsio on a private loop (one copy instead of
 * one per test file).
 */
#pragma once

#include "server/config.h"
#include "server/dns/dnsio.h"

/* @p cfg's DNS section: its addresses, zone, one NS name (@p ns[0], which
 * the caller keeps alive), TTLs, limits; @p threads workers on @p io. */
static inline struct dnsio_config dnsio_fixture_config(const struct server_config *cfg,
		const char **ns, uint32_t threads, enum dnsio_io io)
{
	ns[0] = cfg->ns[0];
	return (struct dnsio_config){.listen = cfg->dns.addrs,
			.nlisten = cfg->dns.n,
			.answer = {.zone = cfg->zone,
					.domain = cfg->domain,
					.ns = ns,
					.nns = 1,
					.report_zone = cfg->report_zone,
					.ttl = cfg->ttl,
					.negative_ttl = cfg->negative_ttl,
					.udp_max = cfg->udp_max},
			.data_dir = cfg->data_dir,
			.threads = threads,
			.io = io,
			.limits = {cfg->dns_tcp_max_conns, cfg->dns_tcp_max_per_source,
					cfg->dns_tcp_idle_ms, cfg->report_rate,
					cfg->report_log_max}};
}
