#include "server/api/audit.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/api/convert.h"

/* Append @p s as a JSON string body (no quotes) to @p out at *@p off. */
static void json_put(char *out, size_t outsz, size_t *off, const char *s)
{
	for (; *s != '\0' && *off + 8 < outsz; s++) {
		uint8_t c = (uint8_t)*s;
		if (c == '"' || c == '\\') {
			out[(*off)++] = '\\';
			out[(*off)++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			*off += (size_t)snprintf(out + *off, outsz - *off, "\\u%04x", c);
		} else {
			out[(*off)++] = (char)c;
		}
	}
	out[*off] = '\0';
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
	size_t off = (size_t)snprintf(line, sizeof(line),
			"{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03uZ\",\"source\":\"%s\","
			"\"token\":",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			tm.tm_sec, (unsigned)(wall_ms % 1000), source);
	if (token != NULL) {
		line[off++] = '"';
		json_put(line, sizeof(line), &off, token);
		off += (size_t)snprintf(line + off, sizeof(line) - off, "\"");
	} else {
		off += (size_t)snprintf(line + off, sizeof(line) - off, "null");
	}
	off += (size_t)snprintf(line + off, sizeof(line) - off, ",\"op\":\"%s\",\"instance\":\"",
			a->op != NULL ? a->op : "request");
	json_put(line, sizeof(line), &off, a->target);
	off += (size_t)snprintf(
			line + off, sizeof(line) - off, "\",\"result\":\"%s\"", result_name(a->rc));
	const char *why = refusal_name(a->refusal);
	if (why != NULL) {
		off += (size_t)snprintf(line + off, sizeof(line) - off, ",\"%s\":\"%s\"",
				a->dry_run ? "would_refuse" : "reason", why);
	}
	off += (size_t)snprintf(line + off, sizeof(line) - off, "}\n");
	if (off >= sizeof(line)) {
		log->errors++;
		return false;
	}
	uint64_t errors = log->errors;
	rs_linelog_write(log, line, off);
	return log->errors == errors;
}
