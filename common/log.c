#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"

static _Atomic int log_level = RS_LOG_INFO;
static _Atomic int log_format = RS_LOG_FORMAT_TEXT;

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

static const char *const format_names[] = {"auto", "text", "journal", "json"};

int rs_log_format_parse(const char *text)
{
	for (int i = 0; i <= RS_LOG_FORMAT_JSON; i++) {
		if (strcmp(text, format_names[i]) == 0) {
			return i;
		}
	}
	return RS_EINVAL;
}

const char *rs_log_format_name(int format)
{
	if (format < 0 || format > RS_LOG_FORMAT_JSON) {
		return "?";
	}
	return format_names[format];
}

int rs_log_stderr_is_journal(const char *journal_stream)
{
	unsigned long long dev = 0, ino = 0;
	struct stat st;
	if (journal_stream == NULL || sscanf(journal_stream, "%llu:%llu", &dev, &ino) != 2 ||
			fstat(STDERR_FILENO, &st) < 0) {
		return 0;
	}
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void rs_log_set_format(enum rs_log_format format)
{
	if (format == RS_LOG_FORMAT_AUTO) {
		format = rs_log_stderr_is_journal(getenv("JOURNAL_STREAM")) ? RS_LOG_FORMAT_JOURNAL
									    : RS_LOG_FORMAT_TEXT;
	}
	atomic_store(&log_format, (int)format);
}

enum rs_log_format rs_log_get_format(void)
{
	return (enum rs_log_format)atomic_load(&log_format);
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

/* syslog(3) priorities of our levels: err, warning, notice, info, debug. */
static const int level_priority[] = {3, 4, 5, 6, 7};

/* @p msg as the body of a JSON string into @p out (at most @p cap bytes, no
 * NUL); returns the length written. A character that does not fit whole is
 * dropped with the rest. */
static size_t json_escape(char *out, size_t cap, const char *msg)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)msg; *p != '\0'; p++) {
		char esc[8];
		size_t k;
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\', esc[1] = (char)*p, k = 2;
		} else if (*p == '\n') {
			esc[0] = '\\', esc[1] = 'n', k = 2;
		} else if (*p < 0x20) {
			k = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", *p);
		} else {
			esc[0] = (char)*p, k = 1;
		}
		if (n + k > cap) {
			break;
		}
		memcpy(out + n, esc, k);
		n += k;
	}
	return n;
}

/* The line's prefix in @p line (timestamp and level, or priority); its length. */
static size_t line_prefix(char *line, size_t cap, int format, enum rs_log_level level)
{
	if (format == RS_LOG_FORMAT_JOURNAL) {
		return (size_t)snprintf(line, cap, "<%d>", level_priority[level]);
	}
	uint64_t now_ms = rs_clock_wall_ms();
	time_t secs = (time_t)(now_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char ts[32];
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	if (format == RS_LOG_FORMAT_JSON) {
		return (size_t)snprintf(line, cap,
				"{\"ts\":\"%s.%03uZ\",\"level\":\"%s\",\"msg\":\"", ts,
				(unsigned)(now_ms % 1000), level_names[level]);
	}
	return (size_t)snprintf(line, cap, "%s.%03uZ %-7s ", ts, (unsigned)(now_ms % 1000),
			level_names[level]);
}

void rs_log(enum rs_log_level level, const char *fmt, ...)
{
	if (!rs_log_enabled(level)) {
		return;
	}
	char line[2048], msg[1536];
	int format = atomic_load(&log_format);
	size_t n = line_prefix(line, sizeof(line), format, level);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m < 0) {
		msg[0] = '\0';
	}
	if (format == RS_LOG_FORMAT_JSON) {
		n += json_escape(line + n, sizeof(line) - n - 4, msg);
		line[n++] = '"';
		line[n++] = '}';
	} else {
		/* One line per event: a newline inside the message (a peer's
		 * text) would split it, and journald would take the rest as a
		 * line of its own at the default priority. */
		size_t k = strnlen(msg, sizeof(msg));
		for (size_t i = 0; i < k && n < sizeof(line) - 2; i++) {
			line[n++] = msg[i] == '\n' ? ' ' : msg[i];
		}
	}
	line[n++] = '\n';
	if (atomic_load(&holding) && hold_line(level, line, n)) {
		return;
	}
	/* One write per line; a failed log write has nowhere to be reported. */
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}
