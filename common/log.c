#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"

static _Atomic int log_level = RS_LOG_INFO;

/* rs_log_hold()'s lines, in order: the text in held_text, each line's level
 * and extent in held_lines. */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool holding;
static char held_text[16384];
static size_t held_len;
static struct {
	int level;
	size_t off, len;
} held_lines[64];
static size_t held_n;

static const char *const level_names[] = {"error", "warning", "notice", "info", "debug"};

int rs_log_level_parse(const char *text)
{
	for (int i = 0; i <= RS_LOG_DEBUG; i++) {
		if (strcmp(text, level_names[i]) == 0) {
			return i;
		}
	}
	return RS_EINVAL;
}

const char *rs_log_level_name(int level)
{
	if (level < 0 || level > RS_LOG_DEBUG) {
		return "?";
	}
	return level_names[level];
}

void rs_log_set_level(enum rs_log_level level)
{
	atomic_store(&log_level, (int)level);
}

int rs_log_enabled(enum rs_log_level level)
{
	return (int)level <= atomic_load(&log_level);
}

/* Write the held lines at @p most_verbose or more severe; hold_mu held. */
static void held_write(int most_verbose)
{
	for (size_t k = 0; k < held_n; k++) {
		if (held_lines[k].level <= most_verbose) {
			ssize_t w = write(STDERR_FILENO, held_text + held_lines[k].off,
					held_lines[k].len);
			(void)w;
		}
	}
	held_n = 0;
	held_len = 0;
}

/* Keep a line for rs_log_release(); false when it is to be written now. */
static bool hold_line(int level, const char *line, size_t n)
{
	pthread_mutex_lock(&hold_mu);
	bool held = atomic_load(&holding);
	if (held && (held_n == sizeof(held_lines) / sizeof(held_lines[0]) ||
				    n > sizeof(held_text) - held_len)) {
		/* Full: what is held goes out first, then this line, in order. */
		held_write(RS_LOG_DEBUG);
		atomic_store(&holding, false);
		held = false;
	}
	if (held) {
		memcpy(held_text + held_len, line, n);
		held_lines[held_n].level = level;
		held_lines[held_n].off = held_len;
		held_lines[held_n].len = n;
		held_n++;
		held_len += n;
	}
	pthread_mutex_unlock(&hold_mu);
	return held;
}

void rs_log_hold(void)
{
	pthread_mutex_lock(&hold_mu);
	atomic_store(&holding, true);
	pthread_mutex_unlock(&hold_mu);
}

void rs_log_release(enum rs_log_level most_verbose)
{
	pthread_mutex_lock(&hold_mu);
	held_write((int)most_verbose);
	atomic_store(&holding, false);
	pthread_mutex_unlock(&hold_mu);
}

void rs_log(enum rs_log_level level, const char *fmt, ...)
{
	if (!rs_log_enabled(level)) {
		return;
	}
	char line[2048];
	uint64_t now_ms = rs_clock_wall_ms();
	time_t secs = (time_t)(now_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03uZ %-7s ", (unsigned)(now_ms % 1000),
			level_names[level]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0) {
		m = 0;
	}
	n += (size_t)m;
	if (n > sizeof(line) - 2) {
		n = sizeof(line) - 2; /* truncated message */
	}
	line[n++] = '\n';
	if (atomic_load(&holding) && hold_line(level, line, n)) {
		return;
	}
	/* One write per line; a failed log write has nowhere to be reported. */
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}
