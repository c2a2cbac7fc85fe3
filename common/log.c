#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"

static _Atomic int log_level = RS_LOG_INFO;

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

void rs_log(enum rs_log_level level, const char *fmt, ...)
{
	if (!rs_log_enabled(level)) {
		return;
	}
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %-7s ", ts.tv_nsec / 1000000,
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
	/* One write per line; a failed log write has nowhere to be reported. */
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}
