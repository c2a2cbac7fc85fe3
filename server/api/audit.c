#include "server/api/audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/api/convert.h"

/* Append to @p out at *@p off, formatted. A line that does not fit sets
 * *@p off to @p outsz (too long: refused whole by the caller), never past. */
__attribute__((format(printf, 4, 5))) static void put_fmt(
		char *out, size_t outsz, size_t *off, const char *fmt, ...)
{
	if (*off >= outsz) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + *off, outsz - *off, fmt, ap);
	va_end(ap);
	*off = n < 0 || (size_t)n >= outsz - *off ? outsz : *off + (size_t)n;
}

/* Append @p s as a JSON string body (no quotes) to @p out at *@p off; as
 * put_fmt(), a string that does not fit sets *@p off to @p outsz. */
static void json_put(char *out, size_t outsz, size_t *off, const char *s)
{
	for (; *s != '\0' && *off < outsz; s++) {
		uint8_t c = (uint8_t)*s;
		if (c == '"' || c == '\\') {
			put_fmt(out, outsz, off, "\\%c", (char)c);
		} else if (c < 0x20 || c >= 0x7f) {
			put_fmt(out, outsz, off, "\\u%04x", c);
		} else {
			put_fmt(out, outsz, off, "%c", (char)c);
		}
	}
}

static const char *refusal_name(enum api_ops_refusal r)
{
	switch (r) {
	case API_OPS_REFUSED_UNAUTHENTICATED:
		return "unauthenticated";
	case API_OPS_REFUSED_SCOPE:
		return "scope";
	case API_OPS_REFUSED_OWNER:
		return "owner";
	case API_OPS_REFUSED_BAD_TOKEN:
		return "bad_token";
	default:
		return NULL;
	}
}

static const char *result_name(int rc)
{
	if (rc == 0) {
		return "OK";
	}
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
			&roster__v1__error_code__descriptor, api_convert_error_code(rc));
	return v != NULL ? v->name : "INTERNAL";
}

bool api_audit_write(struct rs_linelog *log, uint64_t wall_ms, const char *source,
		const char *token, const struct api_ops_audit *a)
{
	if (log->fd < 0) {
		return false;
	}
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char line[3072];
	size_t off = 0;
	put_fmt(line, sizeof(line), &off,
			"{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03uZ\",\"source\":\"%s\","
			"\"token\":",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			tm.tm_sec, (unsigned)(wall_ms % 1000), source);
	if (token != NULL) {
		put_fmt(line, sizeof(line), &off, "\"");
		json_put(line, sizeof(line), &off, token);
		put_fmt(line, sizeof(line), &off, "\"");
	} else {
		put_fmt(line, sizeof(line), &off, "null");
	}
	put_fmt(line, sizeof(line), &off, ",\"op\":\"%s\",\"instance\":\"",
			a->op != NULL ? a->op : "request");
	json_put(line, sizeof(line), &off, a->target);
	put_fmt(line, sizeof(line), &off, "\",\"result\":\"%s\"", result_name(a->rc));
	const char *why = refusal_name(a->refusal);
	if (why != NULL) {
		put_fmt(line, sizeof(line), &off, ",\"%s\":\"%s\"",
				a->dry_run ? "would_refuse" : "reason", why);
	}
	put_fmt(line, sizeof(line), &off, "}\n");
	if (off >= sizeof(line)) {
		log->errors++;
		return false;
	}
	uint64_t errors = log->errors;
	rs_linelog_write(log, line, off);
	return log->errors == errors;
}
