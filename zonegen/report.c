#include "zonegen/report.h"

#include <stdlib.h>
#include <string.h>

const char *zg_state_name(enum zg_zone_state s)
{
	switch (s) {
	case ZG_STATE_NEW:
		return "new";
	case ZG_STATE_CHANGED:
		return "changed";
	case ZG_STATE_UNCHANGED:
		return "unchanged";
	case ZG_STATE_REMOVED:
		return "removed";
	}
	return "?";
}

static int count_cmp(const void *a, const void *b)
{
	return strcmp(((const struct zg_type_count *)a)->name,
			((const struct zg_type_count *)b)->name);
}

/* Types in name order, for a stable, readable summary. */
static void sorted(const struct zg_counts *c, struct zg_type_count *out)
{
	memcpy(out, c->t, c->ntypes * sizeof(*out));
	qsort(out, c->ntypes, sizeof(*out), count_cmp);
}

void zg_report_summary(FILE *out, const struct zg_zone_result *zones, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct zg_zone_result *z = &zones[i];
		struct zg_type_count t[ZG_COUNT_TYPES_MAX];
		sorted(&z->counts, t);
		fprintf(out, "zone %s serial %u %s: %llu records", z->name, z->serial,
				zg_state_name(z->state), (unsigned long long)z->counts.total);
		for (size_t k = 0; k < z->counts.ntypes; k++) {
			fprintf(out, "%s%s %llu", k == 0 ? " (" : ", ", t[k].name,
					(unsigned long long)t[k].n);
		}
		fprintf(out, "%s, +%llu -%llu\n", z->counts.ntypes > 0 ? ")" : "",
				(unsigned long long)z->added, (unsigned long long)z->removed);
	}
}

void zg_report_prometheus(struct rs_buf *b, const struct zg_zone_result *zones, size_t n,
		const struct zg_run_result *run)
{
	rs_buf_str(b, "# HELP roster_zonegen_records Records in a generated zone, by type.\n"
		      "# TYPE roster_zonegen_records gauge\n");
	for (size_t i = 0; i < n; i++) {
		struct zg_type_count t[ZG_COUNT_TYPES_MAX];
		sorted(&zones[i].counts, t);
		for (size_t k = 0; k < zones[i].counts.ntypes; k++) {
			rs_buf_printf(b, "roster_zonegen_records{zone=\"%s\",type=\"%s\"} %llu\n",
					zones[i].name, t[k].name, (unsigned long long)t[k].n);
		}
	}
	static const struct {
		const char *name, *help, *type;
		int field;
	} per_zone[] = {
			{"roster_zonegen_records_added",
					"Records added against the previous output.", "gauge", 0},
			{"roster_zonegen_records_removed",
					"Records removed against the previous output.", "gauge", 1},
			{"roster_zonegen_serial", "SOA serial of the zone.", "gauge", 2},
			{"roster_zonegen_zone_changed", "1 when this run changed the zone.",
					"gauge", 3},
	};
	for (size_t m = 0; m < sizeof(per_zone) / sizeof(per_zone[0]); m++) {
		rs_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", per_zone[m].name, per_zone[m].help,
				per_zone[m].name, per_zone[m].type);
		for (size_t i = 0; i < n; i++) {
			const struct zg_zone_result *z = &zones[i];
			uint64_t v = per_zone[m].field == 0   ? z->added
				     : per_zone[m].field == 1 ? z->removed
				     : per_zone[m].field == 2 ? z->serial
							      : (z->state != ZG_STATE_UNCHANGED);
			rs_buf_printf(b, "%s{zone=\"%s\"} %llu\n", per_zone[m].name, z->name,
					(unsigned long long)v);
		}
	}
	rs_buf_printf(b,
			"# HELP roster_zonegen_hosts Hosts read from the inventory.\n"
			"# TYPE roster_zonegen_hosts gauge\nroster_zonegen_hosts %llu\n"
			"# HELP roster_zonegen_errors Check failures of the last run.\n"
			"# TYPE roster_zonegen_errors gauge\nroster_zonegen_errors %llu\n"
			"# HELP roster_zonegen_success 1 when the last run's output was accepted.\n"
			"# TYPE roster_zonegen_success gauge\nroster_zonegen_success %d\n"
			"# HELP roster_zonegen_duration_seconds Duration of the last run.\n"
			"# TYPE roster_zonegen_duration_seconds gauge\n"
			"roster_zonegen_duration_seconds %.3f\n"
			"# HELP roster_zonegen_last_run_timestamp_seconds When the last run "
			"started.\n"
			"# TYPE roster_zonegen_last_run_timestamp_seconds gauge\n"
			"roster_zonegen_last_run_timestamp_seconds %.0f\n",
			(unsigned long long)run->hosts, (unsigned long long)run->errors,
			run->refused ? 0 : 1, run->seconds, run->started);
}
