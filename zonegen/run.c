#include "zonegen/run.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/file.h"
#include "zonegen/diag.h"
#include "zonegen/gen.h"
#include "zonegen/include.h"
#include "zonegen/inventory.h"
#include "zonegen/notify.h"
#include "zonegen/output.h"
#include "zonegen/records.h"
#include "zonegen/report.h"

/* Today's YYYYMMDD00 (UTC): the first serial of a zone without history. */
static uint32_t date_serial(void)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	return (uint32_t)(tm.tm_year + 1900) * 1000000u + (uint32_t)(tm.tm_mon + 1) * 10000u +
	       (uint32_t)tm.tm_mday * 100u;
}

struct zone_work {
	struct rs_buf head;
	struct rs_buf deploy;
	struct rs_buf body;
};

/* A previous zone file the inventory no longer produces. */
struct stale {
	char file[NAME_MAX + 1];
	struct zg_zone_result res;
	char name[NAME_MAX + 1];
};

static bool zone_listed(const struct zg_gen *g, const char *file)
{
	for (size_t i = 0; i < g->nzones; i++) {
		size_t l = strlen(g->zones[i].name);
		if (strncmp(file, g->zones[i].name, l) == 0 && strcmp(file + l, "zone") == 0) {
			return true;
		}
	}
	return false;
}

/* Our zone files in @p dir that this run does not produce. */
static int find_stale(const char *dir, const struct zg_gen *g, struct stale **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (d == NULL) {
		return errno == ENOENT ? 0 : -errno;
	}
	int rc = 0;
	struct dirent *e;
	size_t cap = 0;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] == '.' || l < 6 || strcmp(e->d_name + l - 5, ".zone") != 0 ||
				zone_listed(g, e->d_name)) {
			continue;
		}
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		struct zg_prev p;
		if ((rc = zg_prev_load(path, &p)) < 0) {
			break;
		}
		if (p.ours) {
			if (RS_ARRAY_GROW(*out, cap, *n + 1) < 0) {
				zg_prev_deinit(&p);
				rc = RS_ENOMEM;
				break;
			}
			struct stale *s = &(*out)[(*n)++];
			memset(s, 0, sizeof(*s));
			snprintf(s->file, sizeof(s->file), "%s", e->d_name);
			snprintf(s->name, sizeof(s->name), "%.*s", (int)(l - 4), e->d_name);
			/* s->res.name is set once the array is sorted: the struct moves. */
			s->res.state = ZG_STATE_REMOVED;
			s->res.serial = p.serial;
			s->res.prev_records = p.records;
			s->res.prev_deploy = p.deploy;
			s->res.removed = p.records;
		}
		zg_prev_deinit(&p);
	}
	closedir(d);
	return rc;
}

static int stale_cmp(const void *a, const void *b)
{
	return strcmp(((const struct stale *)a)->file, ((const struct stale *)b)->file);
}

/* The record-drop guard: true when the zone may lose what it loses. The
 * _deploy TXT is left out on both sides: only --commit adds it, so a run
 * without --commit after one with it loses no inventory record. */
static bool drop_ok(
		const struct zg_run_config *a, const struct zg_zone_result *r, struct zg_diag *diag)
{
	uint64_t prev = r->prev_records - r->prev_deploy;
	uint64_t now = r->counts.total - (a->commit != NULL && r->counts.total > 0 ? 1 : 0);
	if (prev == 0 || now >= prev) {
		return true;
	}
	uint64_t lost = prev - now;
	if (lost * 100 <= (uint64_t)a->max_drop * prev) {
		return true;
	}
	if (a->force) {
		zg_diag_warn(diag,
				"zone %s loses %llu of %llu records (%.1f%%, over --max-drop "
				"%u%%): written anyway (--force)",
				r->name, (unsigned long long)lost, (unsigned long long)prev,
				100.0 * (double)lost / (double)prev, a->max_drop);
		return true;
	}
	zg_diag_error(diag,
			"zone %s would lose %llu of %llu records (%.1f%%, over --max-drop %u%%): "
			"refused; the inventory source probably failed (--force to accept)",
			r->name, (unsigned long long)lost, (unsigned long long)prev,
			100.0 * (double)lost / (double)prev, a->max_drop);
	return false;
}

static const char *const include_names[] = {ZG_INCLUDE_BIND, ZG_INCLUDE_NSD, ZG_INCLUDE_KNOT};
#define NINCLUDES (sizeof(include_names) / sizeof(include_names[0]))

static void send_notify(const struct zg_run_config *a, const struct zg_gen *g,
		const struct zg_zone_result *res, struct zg_diag *diag, FILE *outf)
{
	struct zg_notify_soa *soa = calloc(g->nzones == 0 ? 1 : g->nzones, sizeof(*soa));
	size_t n = 0;
	if (soa == NULL) {
		zg_diag_warn(diag, "NOTIFY not sent: out of memory");
		return;
	}
	for (size_t i = 0; i < g->nzones; i++) {
		if (res[i].state == ZG_STATE_UNCHANGED) {
			continue;
		}
		soa[n++] = (struct zg_notify_soa){.zone = g->zones[i].name,
				.mname = a->ns[0],
				.rname = a->hostmaster,
				.ttl = a->ttl,
				.serial = res[i].serial,
				.refresh = ZG_SOA_REFRESH,
				.retry = ZG_SOA_RETRY,
				.expire = ZG_SOA_EXPIRE,
				.minimum = ZG_SOA_MINIMUM};
	}
	int *rcodes = calloc(n * a->nnotify + 1, sizeof(*rcodes));
	int rc = rcodes == NULL ? RS_ENOMEM : zg_notify_send(soa, n, a->notify, a->nnotify, rcodes);
	if (rc < 0) {
		zg_diag_warn(diag, "NOTIFY not sent: %s", rs_strerror(rc));
	}
	for (size_t i = 0; rc == 0 && i < n * a->nnotify; i++) {
		const char *zone = soa[i / a->nnotify].zone, *to = a->notify_text[i % a->nnotify];
		if (rcodes[i] < 0) {
			zg_diag_warn(diag, "NOTIFY %s to %s: no answer", zone, to);
		} else if (rcodes[i] != 0) {
			zg_diag_warn(diag, "NOTIFY %s to %s: answered rcode %d", zone, to,
					rcodes[i]);
		} else if (!a->quiet) {
			fprintf(outf, "notify %s %s ok\n", zone, to);
		}
	}
	free(rcodes);
	free(soa);
}

static void write_metrics(const struct zg_run_config *a, const struct zg_zone_result *res, size_t n,
		const struct zg_run_result *run, struct zg_diag *diag)
{
	struct rs_buf b;
	rs_buf_init(&b);
	zg_report_prometheus(&b, res, n, run);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", a->metrics);
	char *slash = strrchr(dir, '/');
	const char *base = a->metrics;
	if (slash != NULL) {
		*slash = '\0';
		base = slash + 1;
	} else {
		snprintf(dir, sizeof(dir), ".");
	}
	const struct rs_buf *parts[] = {&b};
	int rc = rs_buf_error(&b);
	if (rc == 0) {
		rc = zg_file_replace(dir[0] == '\0' ? "/" : dir, base, parts, 1);
	}
	if (rc < 0) {
		zg_diag_warn(diag, "cannot write --metrics %s: %s", a->metrics, rs_strerror(rc));
	}
	rs_buf_deinit(&b);
}

static void lock_error(struct zg_diag *diag, const char *dir, int rc)
{
	zg_diag_error(diag, "--out %s: %s", dir,
			rc == RS_EBUSY ? "another roster-zonegen run is using it"
				       : rs_strerror(rc));
}

/* The state of one run, passed through its phases. */
struct run {
	const struct zg_run_config *cfg;
	struct zg_diag diag;
	struct zg_inventory inv;
	struct zg_records recs;
	struct zg_options opt;
	struct zg_gen g;
	struct zone_work *work;     /* per zone: its text */
	struct zg_zone_result *res; /* per zone: what happens to it */
	struct stale *stale;
	size_t nstale;
	size_t changed;               /* zones written */
	char (*staged)[NAME_MAX + 1]; /* files written as .<name>.tmp, not renamed yet */
	size_t nstaged;
	int lock;     /* the flock on --out, -1 when not held */
	bool writing; /* run_write() started: a failure is not a refusal */
	bool wrote;   /* renames started: a failure can have left a partial update */
};

/* Remove the staged files a run killed before its renames left behind
 * (.<zone>.zone.tmp, .<include>.tmp): under the lock, nobody else stages. */
static void remove_leftovers(struct run *r)
{
	DIR *d = opendir(r->cfg->out);
	if (d == NULL) {
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		const char *n = e->d_name;
		size_t l = strlen(n);
		if (n[0] != '.' || l < 6 || strcmp(n + l - 4, ".tmp") != 0) {
			continue;
		}
		char name[NAME_MAX + 1];
		snprintf(name, sizeof(name), "%.*s", (int)(l - 5), n + 1);
		bool ours = strlen(name) > 5 && strcmp(name + strlen(name) - 5, ".zone") == 0;
		for (size_t k = 0; k < NINCLUDES && !ours; k++) {
			ours = strcmp(name, include_names[k]) == 0;
		}
		if (ours) {
			rs_file_discard(r->cfg->out, name);
		}
	}
	closedir(d);
}

/* Write @p name's new text to --out/.<name>.tmp; run_write() renames every
 * staged file once all of them are on disk. */
static int stage(struct run *r, const char *name, const struct rs_buf *const *parts, size_t n)
{
	const char *out = r->cfg->out;
	int rc = zg_file_stage(out, name, parts, n);
	if (rc < 0) {
		zg_diag_error(&r->diag, "cannot write %s/%s: %s", out, name, rs_strerror(rc));
		return rc;
	}
	snprintf(r->staged[r->nstaged++], sizeof(r->staged[0]), "%s", name);
	return 0;
}

/* Stage the include files whose text changed. */
static int stage_includes(struct run *r, const struct zg_include_opts *o)
{
	for (size_t k = 0; k < NINCLUDES; k++) {
		struct rs_buf b;
		rs_buf_init(&b);
		if (k == 0) {
			zg_include_bind(&r->g, o, &b);
		} else if (k == 1) {
			zg_include_nsd(&r->g, o, &b);
		} else {
			zg_include_knot(&r->g, o, &b);
		}
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", r->cfg->out, include_names[k]);
		int rc = rs_buf_error(&b);
		if (rc < 0) {
			zg_diag_error(&r->diag, "cannot write %s: %s", path, rs_strerror(rc));
		} else if (!zg_file_equals(path, &b)) {
			const struct rs_buf *parts[] = {&b};
			rc = stage(r, include_names[k], parts, 1);
		}
		rs_buf_deinit(&b);
		if (rc < 0) {
			return rc;
		}
	}
	return 0;
}

/* Phase 1: lock --out, read the inventories and hand records, build and
 * check the zones. */
static int run_read(struct run *r)
{
	const struct zg_run_config *a = r->cfg;
	/* One run at a time per output directory: two would read the same
	 * previous serials and race on the renames. */
	int rc = rs_dir_lock(a->out, !a->check, &r->lock);
	if (rc < 0 && rc != RS_ENOENT) {
		lock_error(&r->diag, a->out, rc);
		return rc;
	}
	for (size_t i = 0; i < a->ninventory; i++) {
		if ((rc = zg_inventory_load(&r->inv, a->inventory[i], &r->diag)) < 0) {
			zg_diag_error(&r->diag, "--inventory %s: %s", a->inventory[i],
					rs_strerror(rc));
			return rc;
		}
	}
	if (r->inv.nhosts == 0) {
		zg_diag_warn(&r->diag, "the inventories hold no host");
	}
	if (a->records != NULL && (rc = zg_records_load_dir(&r->recs, a->records, a->domain, a->ttl,
						   &r->diag)) < 0) {
		return rc;
	}
	r->opt = (struct zg_options){.domain = a->domain,
			.ns = a->ns,
			.nns = a->nns,
			.hostmaster = a->hostmaster,
			.commit = a->commit,
			.ttl = a->ttl,
			.v4_prefix = a->v4_prefix,
			.v6_prefix = a->v6_prefix,
			.shard_large = a->shard_large,
			.services_ns = a->services_ns,
			.nservices_ns = a->nservices_ns};
	return zg_gen_build(&r->g, &r->opt, &r->inv, &r->recs, &r->diag);
}

/* Render zone @p i and compare it with its previous file: state, serial,
 * added/removed, the drop guard. */
static int plan_zone(struct run *r, size_t i, uint32_t first_serial)
{
	const struct zg_run_config *a = r->cfg;
	struct zone_work *w = &r->work[i];
	struct zg_zone_result *z = &r->res[i];
	rs_buf_init(&w->head);
	rs_buf_init(&w->deploy);
	rs_buf_init(&w->body);
	z->name = r->g.zones[i].name;
	int rc = zg_gen_body(&r->g, i, &w->body, &z->counts);
	if (rc < 0) {
		return rc;
	}
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%szone", a->out, z->name);
	struct zg_prev p;
	if ((rc = zg_prev_load(path, &p)) < 0) {
		zg_diag_error(&r->diag, "cannot read %s: %s", path, rs_strerror(rc));
		return rc;
	}
	if (p.exists && !p.ours) {
		zg_diag_error(&r->diag,
				"%s exists but is not a roster-zonegen zone file (no marker or "
				"no SOA): move it away",
				path);
		zg_prev_deinit(&p);
		return 0;
	}
	z->state = ZG_STATE_NEW;
	z->serial = first_serial;
	if (p.ours) {
		z->prev_records = p.records;
		z->prev_deploy = p.deploy;
		zg_gen_head(&r->g, i, p.serial, &w->head);
		if (zg_prev_same(&p, &w->head, &w->body)) {
			z->state = ZG_STATE_UNCHANGED;
			z->serial = p.serial;
		} else {
			z->state = ZG_STATE_CHANGED;
			z->serial = p.serial + 1; /* RFC 1982: wraps past 2^32 - 1 */
			w->head.len = 0;
		}
	}
	if (z->state != ZG_STATE_UNCHANGED) {
		zg_gen_head(&r->g, i, z->serial, &w->head);
		zg_gen_deploy(&r->g, &w->deploy);
	}
	if (z->state == ZG_STATE_NEW) {
		z->added = z->counts.total - 1; /* the SOA is not counted as a change */
	} else if (z->state == ZG_STATE_CHANGED) {
		const struct rs_buf *parts[] = {&w->deploy, &w->body};
		rc = zg_diff_count(p.data, p.len, parts, 2, &z->added, &z->removed);
	}
	zg_prev_deinit(&p);
	if (rc == 0 && (rs_buf_error(&w->head) < 0 || rs_buf_error(&w->deploy) < 0)) {
		rc = RS_ENOMEM;
	}
	if (rc == 0) {
		(void)drop_ok(a, z, &r->diag);
	}
	return rc;
}

/* Phase 2: every zone against the previous output, and the zones that
 * disappeared. Nothing is written until every zone has passed every check. */
static int run_plan(struct run *r)
{
	const struct zg_run_config *a = r->cfg;
	r->work = calloc(r->g.nzones + 1, sizeof(*r->work));
	r->res = calloc(r->g.nzones + 1, sizeof(*r->res));
	if (r->work == NULL || r->res == NULL) {
		return RS_ENOMEM;
	}
	uint32_t first_serial = a->serial_given ? a->serial : date_serial();
	int rc = 0;
	for (size_t i = 0; i < r->g.nzones && rc == 0; i++) {
		rc = plan_zone(r, i, first_serial);
	}
	if (rc < 0) {
		return rc;
	}
	if ((rc = find_stale(a->out, &r->g, &r->stale, &r->nstale)) < 0) {
		zg_diag_error(&r->diag, "cannot read --out %s: %s", a->out, rs_strerror(rc));
		return rc;
	}
	if (r->nstale > 1) {
		qsort(r->stale, r->nstale, sizeof(*r->stale), stale_cmp);
	}
	for (size_t i = 0; i < r->nstale; i++) {
		r->stale[i].res.name = r->stale[i].name;
		(void)drop_ok(a, &r->stale[i].res, &r->diag);
	}
	return 0;
}

/* Phase 3, all or nothing: every changed zone and include file is written
 * and fsync()ed beside its old one first, so a full disk or an I/O error
 * leaves the previous output whole; only then are they renamed into place
 * (zones before the includes that name them), vanished zones removed, and
 * the directory synced. */
static int run_write(struct run *r)
{
	const struct zg_run_config *a = r->cfg;
	int rc;
	if (mkdir(a->out, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		zg_diag_error(&r->diag, "cannot create --out %s: %s", a->out, rs_strerror(rc));
		return rc;
	}
	if (r->lock < 0 && (rc = rs_dir_lock(a->out, true, &r->lock)) < 0) {
		lock_error(&r->diag, a->out, rc);
		return rc;
	}
	char zone_dir[PATH_MAX];
	if (a->zone_path != NULL) {
		snprintf(zone_dir, sizeof(zone_dir), "%s", a->zone_path);
	} else if (realpath(a->out, zone_dir) == NULL) {
		rc = -errno;
		zg_diag_error(&r->diag, "cannot resolve --out %s: %s", a->out, rs_strerror(rc));
		return rc;
	}
	r->writing = true;
	remove_leftovers(r);
	r->staged = calloc(r->g.nzones + NINCLUDES, sizeof(*r->staged));
	if (r->staged == NULL) {
		return RS_ENOMEM;
	}
	rc = 0;
	for (size_t i = 0; i < r->g.nzones && rc == 0; i++) {
		if (r->res[i].state == ZG_STATE_UNCHANGED) {
			continue;
		}
		char name[NAME_MAX + 1];
		snprintf(name, sizeof(name), "%szone", r->g.zones[i].name);
		const struct zone_work *w = &r->work[i];
		const struct rs_buf *parts[] = {&w->head, &w->deploy, &w->body};
		rc = stage(r, name, parts, 3);
	}
	size_t nzone_files = r->nstaged;
	struct zg_include_opts io = {.zone_dir = zone_dir,
			.nsd_pattern = a->nsd_pattern,
			.knot_template = a->knot_template};
	if (rc == 0) {
		rc = stage_includes(r, &io);
	}
	size_t k = 0;
	if (rc == 0) {
		r->wrote = true;
		for (; k < r->nstaged; k++) {
			if ((rc = rs_file_commit(a->out, r->staged[k])) < 0) {
				zg_diag_error(&r->diag, "cannot rename %s/.%s.tmp into place: %s",
						a->out, r->staged[k], rs_strerror(rc));
				break;
			}
		}
		r->changed = k < nzone_files ? k : nzone_files;
	}
	for (; k < r->nstaged; k++) {
		rs_file_discard(a->out, r->staged[k]);
	}
	if (rc < 0) {
		return rc;
	}
	for (size_t i = 0; i < r->nstale; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/%s", a->out, r->stale[i].file);
		if (unlink(path) < 0 && errno != ENOENT) {
			zg_diag_warn(&r->diag, "cannot remove %s: %s", path, rs_strerror(-errno));
		}
	}
	if ((rc = rs_dir_sync(a->out)) < 0) {
		zg_diag_error(&r->diag, "cannot sync --out %s: %s", a->out, rs_strerror(rc));
	}
	return rc;
}

static void run_deinit(struct run *r)
{
	for (size_t i = 0; r->work != NULL && i < r->g.nzones; i++) {
		rs_buf_deinit(&r->work[i].head);
		rs_buf_deinit(&r->work[i].deploy);
		rs_buf_deinit(&r->work[i].body);
	}
	free(r->work);
	free(r->res);
	free(r->stale);
	free(r->staged);
	zg_gen_deinit(&r->g);
	zg_records_deinit(&r->recs);
	zg_inventory_deinit(&r->inv);
	if (r->lock >= 0) {
		close(r->lock);
	}
}

int zg_run(const struct zg_run_config *cfg, FILE *outf, FILE *errf)
{
	const struct zg_run_config *a = cfg;
	uint64_t t0 = rs_clock_mono_ns();
	struct zg_run_result run = {.check = a->check, .started = (double)rs_clock_wall_ms() / 1e3};
	struct run r;
	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.lock = -1;
	zg_diag_init(&r.diag, errf);
	zg_inventory_init(&r.inv, a->domain);
	zg_records_init(&r.recs);
	int ex = ZG_EXIT_REFUSED;
	int rc = run_read(&r);
	run.hosts = r.inv.nhosts;
	if (rc < 0 || r.diag.errors > 0 || (rc = run_plan(&r)) < 0 || r.diag.errors > 0) {
		goto out;
	}
	if (!a->quiet) {
		zg_report_summary(outf, r.res, r.g.nzones);
		for (size_t i = 0; i < r.nstale; i++) {
			zg_report_summary(outf, &r.stale[i].res, 1);
		}
	}
	if (!a->check && (rc = run_write(&r)) < 0) {
		goto out;
	}
	if (!a->check && a->nnotify > 0 && r.changed > 0) {
		send_notify(a, &r.g, r.res, &r.diag, outf);
	}
	ex = ZG_EXIT_OK;
out:
	if (rc == RS_ENOMEM) {
		zg_diag_error(&r.diag, "out of memory");
	}
	run.seconds = (double)(rs_clock_mono_ns() - t0) / 1e9;
	run.errors = r.diag.errors;
	run.refused = ex != ZG_EXIT_OK;
	if (ex != ZG_EXIT_OK) {
		fprintf(errf, "roster-zonegen: %s: %zu error%s; %s\n",
				r.writing ? "failed" : "refused", r.diag.errors,
				r.diag.errors == 1 ? "" : "s",
				r.wrote     ? "some files may be updated"
				: r.writing ? "nothing written, the previous output is intact"
					    : "nothing written");
	} else if (!a->quiet) {
		size_t nchanged = 0;
		for (size_t i = 0; i < r.g.nzones; i++) {
			nchanged += r.res[i].state != ZG_STATE_UNCHANGED;
		}
		fprintf(outf, "%s%zu hosts, %zu zones (%zu changed, %zu removed), %.3f s\n",
				a->check ? "check: " : "", r.inv.nhosts, r.g.nzones, nchanged,
				r.nstale, run.seconds);
	}
	if (a->metrics != NULL && !a->check) {
		write_metrics(a, r.res, r.res != NULL ? r.g.nzones : 0, &run, &r.diag);
	}
	zg_diag_finish(&r.diag);
	run_deinit(&r);
	return ex;
}
