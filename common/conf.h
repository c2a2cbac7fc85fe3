/*
 * common/conf.h - the "key = value" configuration file format.
 *
 * One setting per line; '#' starts a comment at the start of a line or after
 * whitespace; blank lines are ignored; whitespace around the key and the
 * value is trimmed; a value may be quoted with double quotes to keep leading
 * or trailing spaces or a '#'. A key may repeat (e.g. several "dns" lines):
 * the callback sees every occurrence in file order.
 *
 * Synchronous, reads the file with stdio; call it before the loop starts.
 */
#pragma once

#include <stddef.h>

/**
 * Called once per setting.
 * @param key the key, NUL-terminated; borrowed for the call.
 * @param value the value, NUL-terminated; borrowed for the call.
 * @param line the line number, for messages.
 * @param ud the caller's pointer.
 * @return 0 to go on, a negative code to stop parsing with that code.
 */
typedef int (*rs_conf_cb)(const char *key, const char *value, unsigned line, void *ud);

/**
 * Parse a configuration file.
 * @param path the file.
 * @param cb called per setting.
 * @param ud passed to @p cb.
 * @param err buffer for a one-line message naming the file and line on failure.
 * @param errsz its size.
 * @return 0, a negative errno code if the file cannot be read, RS_ECONF for a
 *         syntax error, or the first negative code @p cb returned.
 */
__attribute__((warn_unused_result)) int rs_conf_parse_file(
		const char *path, rs_conf_cb cb, void *ud, char *err, size_t errsz);
