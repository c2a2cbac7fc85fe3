/*
 * common/log.h - one line per event on stderr, with a level.
 *
 * Formats (rs_log_set_format()): text, "2026-11-26T00:58:07.123Z info  <message>";
 * journal, "<6><message>" (sd-daemon(3) syslog priority prefix, no timestamp:
 * journald stamps the line itself and `journalctl -p err` filters on it);
 * json, one object a line: {"ts":"2026-...Z","level":"info","msg":"..."}.
 * Lines are written with
 * a single write(2) so that concurrent threads never interleave inside one.
 * The level is process-wide state (the one exception to "no globals outside
 * main.c": every module logs, and threading a logger through library-like
 * modules, which must not log, would buy nothing).
 */
#pragma once

enum rs_log_level {
	RS_LOG_ERROR = 0,
	RS_LOG_WARNING,
	RS_LOG_NOTICE,
	RS_LOG_INFO,
	RS_LOG_DEBUG,
};

/**
 * Parse "error", "warning", "notice", "info" or "debug".
 * @return the level, or RS_EINVAL.
 */
int rs_log_level_parse(const char *text);

/** The name rs_log_level_parse() accepts for @p level ("info"); "?" when out of range. */
const char *rs_log_level_name(int level);

enum rs_log_format {
	RS_LOG_FORMAT_AUTO = 0, /**< journal when stderr is journald's stream, else text */
	RS_LOG_FORMAT_TEXT,
	RS_LOG_FORMAT_JOURNAL,
	RS_LOG_FORMAT_JSON,
};

/**
 * Parse "auto", "text", "journal" or "json".
 * @return the format, or RS_EINVAL.
 */
int rs_log_format_parse(const char *text);

/** The name rs_log_format_parse() accepts for @p format; "?" when out of range. */
const char *rs_log_format_name(int format);

/**
 * Is stderr the journal's stream? systemd sets JOURNAL_STREAM to the
 * "DEVICE:INODE" of the stream it connects to stderr; a stderr redirected
 * elsewhere (a file, a pipe) by the service itself does not match it.
 * @param journal_stream the variable's value, or NULL.
 */
int rs_log_stderr_is_journal(const char *journal_stream);

/**
 * Choose the line format. RS_LOG_FORMAT_AUTO resolves here, once, from the
 * environment's JOURNAL_STREAM (rs_log_stderr_is_journal()). Default text.
 */
void rs_log_set_format(enum rs_log_format format);

/** The format in use (never RS_LOG_FORMAT_AUTO). */
enum rs_log_format rs_log_get_format(void);

/** Set the most verbose level that is written. Default RS_LOG_INFO. */
void rs_log_set_level(enum rs_log_level level);

/** Is @p level written? Lets callers skip building expensive messages. */
int rs_log_enabled(enum rs_log_level level);

/** Write one line at @p level; a trailing newline is added. */
void rs_log(enum rs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Hold back the lines logged from now on, from every thread, until
 * rs_log_release(): rosterd's start-up reports what it opened only once the
 * start has succeeded, so that a failed start is one error line. When more
 * is held than fits (a few dozen lines), the held lines are written at once
 * and holding ends: nothing is lost.
 */
void rs_log_hold(void);

/**
 * End rs_log_hold(): write the held lines at @p most_verbose or more severe
 * (RS_LOG_DEBUG: all of them; RS_LOG_WARNING: warnings and errors only), in
 * order, with their original timestamps; drop the rest.
 */
void rs_log_release(enum rs_log_level most_verbose);

#define rs_log_error(...) rs_log(RS_LOG_ERROR, __VA_ARGS__)
#define rs_log_warning(...) rs_log(RS_LOG_WARNING, __VA_ARGS__)
#define rs_log_notice(...) rs_log(RS_LOG_NOTICE, __VA_ARGS__)
#define rs_log_info(...) rs_log(RS_LOG_INFO, __VA_ARGS__)
#define rs_log_debug(...) rs_log(RS_LOG_DEBUG, __VA_ARGS__)
