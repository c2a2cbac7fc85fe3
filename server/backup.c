#include "server/backup.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"

struct backup {
	uv_loop_t *loop;
	struct persist *persist;
	uv_timer_t timer;
	uv_work_t work;
	char dir[PATH_MAX];
	uint32_t keep;
	bool scheduled; /* the running backup is the schedule's */
	bool stopping;
	bool timer_closed;
	backup_done_cb cb;
	void *ud;
	struct backup_counters counters;
	/* The work's input and output (the pool thread writes, the loop reads
	 * after the after-work callback). */
	char path[4096];
	char msg[8192];
	int rc;
	uint64_t bytes;
	uint64_t t0;
};

static void backup_maybe_free(struct backup *b)
{
	if (b->stopping && b->timer_closed && !b->counters.running) {
		free(b);
	}
}

static void work_cb(uv_work_t *w)
{
	struct backup *b = w->data;
	b->rc = persist_backup(b->persist, b->path, &b->bytes, b->msg, sizeof(b->msg));
}

static void after_cb(uv_work_t *w, int status)
{
	struct backup *b = w->data;
	uint64_t ms = (uv_hrtime() - b->t0) / 1000000;
	int rc = status < 0 ? status : b->rc;
	b->counters.running = false;
	if (rc == 0) {
		b->counters.done++;
		b->counters.last_wall_ms = rs_clock_wall_ms();
		b->counters.last_duration_ms = ms;
		b->counters.last_bytes = b->bytes;
		rs_log_notice("backup: %s written, %llu bytes in %llu ms", b->path,
				(unsigned long long)b->bytes, (unsigned long long)ms);
	} else {
		b->counters.failures++;
		rs_log_error("backup failed: %s", b->msg[0] != '\0' ? b->msg : rs_strerror(rc));
	}
	if (b->scheduled && rc == 0) {
		int n = persist_backup_prune(b->dir, b->keep);
		if (n > 0) {
			rs_log_info("backup: deleted %d old backup%s of %s (keeping %u)", n,
					n == 1 ? "" : "s", b->dir, b->keep);
		}
	}
	backup_done_cb cb = b->cb;
	b->cb = NULL;
	if (cb != NULL && !b->stopping) {
		cb(rc, b->bytes, ms, b->msg, b->ud);
	}
	backup_maybe_free(b);
}

static int run(struct backup *b, const char *path, bool scheduled, backup_done_cb cb, void *ud)
{
	if (b->counters.running) {
		return RS_EBUSY;
	}
	if (path[0] != '/' || strlen(path) >= sizeof(b->path) - 32) {
		return RS_EINVAL;
	}
	snprintf(b->path, sizeof(b->path), "%s", path);
	b->msg[0] = '\0';
	b->rc = 0;
	b->bytes = 0;
	b->t0 = uv_hrtime();
	b->work.data = b;
	int rc = uv_queue_work(b->loop, &b->work, work_cb, after_cb);
	if (rc < 0) {
		return rc;
	}
	b->counters.running = true;
	b->scheduled = scheduled;
	b->cb = cb;
	b->ud = ud;
	return 0;
}

int backup_run(struct backup *b, const char *path, backup_done_cb cb, void *ud)
{
	return run(b, path, false, cb, ud);
}

static void timer_cb(uv_timer_t *t)
{
	struct backup *b = t->data;
	char path[4096 + 64];
	if (persist_backup_name(path, sizeof(path), b->dir) < 0) {
		return;
	}
	int rc = run(b, path, true, NULL, NULL);
	if (rc == RS_EBUSY) {
		rs_log_notice("backup: the scheduled backup is skipped, one is running");
	} else if (rc < 0) {
		b->counters.failures++;
		rs_log_error("backup: cannot start the scheduled backup: %s", rs_strerror(rc));
	}
}

int backup_start(uv_loop_t *loop, struct persist *p, const char *dir, uint32_t interval_ms,
		uint32_t keep, struct backup **out, char *err, size_t errsz)
{
	struct backup *b = calloc(1, sizeof(*b));
	if (b == NULL) {
		snprintf(err, errsz, "out of memory");
		return RS_ENOMEM;
	}
	b->loop = loop;
	b->persist = p;
	b->keep = keep;
	if (dir[0] != '\0') {
		/* Made absolute once: a backup's path must be (backup_run()). */
		struct stat st;
		errno = 0;
		if ((stat(dir, &st) != 0 && mkdir(dir, 0750) != 0) ||
				(stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) ||
				realpath(dir, b->dir) == NULL) {
			int e = errno != 0 ? errno : ENOTDIR;
			snprintf(err, errsz, "backup-dir %s: %s", dir, strerror(e));
			free(b);
			return -e;
		}
	}
	uv_timer_init(loop, &b->timer);
	b->timer.data = b;
	if (dir[0] != '\0') {
		uv_timer_start(&b->timer, timer_cb, interval_ms, interval_ms);
		/* The schedule alone must not keep the loop from ending. */
		uv_unref((uv_handle_t *)&b->timer);
	}
	*out = b;
	return 0;
}

struct backup_counters backup_counters_get(const struct backup *b)
{
	struct backup_counters zero = {0};
	return b != NULL ? b->counters : zero;
}

static void timer_close_cb(uv_handle_t *h)
{
	struct backup *b = h->data;
	b->timer_closed = true;
	backup_maybe_free(b);
}

void backup_stop(struct backup *b)
{
	if (b == NULL || b->stopping) {
		return;
	}
	b->stopping = true;
	uv_close((uv_handle_t *)&b->timer, timer_close_cb);
}
