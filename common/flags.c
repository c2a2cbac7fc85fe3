#include "common/flags.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* Flags per table that rs_flags_parse() tracks (for REQUIRED). */
#define FLAGS_MAX 256

/* A usage error: the message in err, RS_EINVAL. */
#define usage(err, errsz, ...) rs_error_printf(err, errsz, RS_EINVAL, __VA_ARGS__)

int rs_flags_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	if (text[0] < '0' || text[0] > '9') {
		return RS_EINVAL; /* strtoull would take a sign or spaces */
	}
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0') {
		return RS_EINVAL;
	}
	if (v < min || v > max) {
		return RS_ERANGE;
	}
	*out = v;
	return 0;
}

int rs_flags_bool(const char *text)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(text, yes[i]) == 0) {
			return 1;
		}
		if (strcmp(text, no[i]) == 0) {
			return 0;
		}
	}
	return RS_EINVAL;
}

const struct rs_flag *rs_flags_find(const struct rs_flags *spec, const char *name)
{
	for (size_t i = 0; i < spec->n; i++) {
		if (strcmp(spec->flags[i].name, name) == 0) {
			return &spec->flags[i];
		}
	}
	return NULL;
}

static bool takes_value(const struct rs_flag *f)
{
	return f->kind == RS_FLAG_UINT || f->kind == RS_FLAG_STRING || f->kind == RS_FLAG_LIST ||
	       f->kind == RS_FLAG_CALL;
}

/* The flag "--name[=value]" names: exact, else (with ABBREV) the only one
 * it is a prefix of. */
static int find_long(const struct rs_flags *spec, const char *arg, const struct rs_flag **out,
		char *err, size_t errsz)
{
	const char *name = arg + 2;
	const char *eq = strchr(name, '=');
	size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
	const struct rs_flag *prefix = NULL;
	size_t nprefix = 0;
	for (size_t i = 0; i < spec->n; i++) {
		const struct rs_flag *f = &spec->flags[i];
		if (strncmp(f->name, name, len) != 0 || len == 0) {
			continue;
		}
		if (f->name[len] == '\0') {
			*out = f;
			return 0;
		}
		prefix = f;
		nprefix++;
	}
	if ((spec->opts & RS_FLAGS_ABBREV) && nprefix == 1) {
		*out = prefix;
		return 0;
	}
	if ((spec->opts & RS_FLAGS_ABBREV) && nprefix > 1) {
		return usage(err, errsz, "ambiguous option '%s'", arg);
	}
	return usage(err, errsz, "unknown option '%s'", arg);
}

static const struct rs_flag *find_short(const struct rs_flags *spec, char c)
{
	for (size_t i = 0; i < spec->n; i++) {
		if (spec->flags[i].short_name != 0 && spec->flags[i].short_name == c) {
			return &spec->flags[i];
		}
	}
	return NULL;
}

/* One step through argv. */
struct token {
	const struct rs_flag *flag; /* a flag, with its value (NULL: none given) */
	const char *value;
	const char *positional; /* or a positional argument */
};

/* Read the flag or positional argument at argv[*i], and its value (which
 * may be the next argument: *i then moves past it). Sets neither field of
 * @p t for the "--" that ends the flags. */
static int next_token(const struct rs_flags *spec, int argc, char *const argv[], int *i,
		bool *only_positional, struct token *t, char *err, size_t errsz)
{
	const char *arg = argv[*i];
	memset(t, 0, sizeof(*t));
	if (*only_positional || arg[0] != '-' || arg[1] == '\0') {
		t->positional = arg;
		return 0;
	}
	if (strcmp(arg, "--") == 0) {
		*only_positional = true;
		return 0;
	}
	const char *attached = NULL;
	if (arg[1] == '-') {
		int rc = find_long(spec, arg, &t->flag, err, errsz);
		if (rc < 0) {
			return rc;
		}
		const char *eq = strchr(arg, '=');
		attached = eq != NULL ? eq + 1 : NULL;
	} else {
		t->flag = find_short(spec, arg[1]);
		if (t->flag == NULL) {
			return usage(err, errsz, "unknown option '%s'", arg);
		}
		attached = arg[2] != '\0' ? arg + 2 : NULL;
	}
	if (t->flag->kind == RS_FLAG_SWITCH && attached != NULL) {
		return usage(err, errsz, "option '--%s' takes no value", t->flag->name);
	}
	if (takes_value(t->flag) && attached == NULL) {
		if (*i + 1 >= argc) {
			return usage(err, errsz, "option '%s' needs a value", arg);
		}
		attached = argv[++*i];
	}
	t->value = attached;
	return 0;
}

static int invalid(const struct rs_flag *f, const char *v, char *err, size_t errsz)
{
	v = v != NULL ? v : ""; /* a STOP flag is stored without a value */
	if (f->hint != NULL) {
		return usage(err, errsz, "invalid --%s '%s' (%s)", f->name, v, f->hint);
	}
	if (f->kind == RS_FLAG_UINT) {
		return usage(err, errsz, "invalid --%s '%s' (%llu-%llu)", f->name, v,
				(unsigned long long)f->min, (unsigned long long)f->max);
	}
	return usage(err, errsz, "invalid --%s '%s'", f->name, v);
}

static int store_uint(const struct rs_flag *f, const char *v, char *field, char *err, size_t errsz)
{
	uint64_t n = 0;
	if (rs_flags_uint(v, f->min, f->max, &n) < 0) {
		return invalid(f, v, err, errsz);
	}
	/* The table gives max within the field's width: no truncation here. */
	switch (f->size) {
	case 1:
		*(uint8_t *)field = (uint8_t)n;
		return 0;
	case 2:
		*(uint16_t *)field = (uint16_t)n;
		return 0;
	case 4:
		*(uint32_t *)field = (uint32_t)n;
		return 0;
	case 8:
		*(uint64_t *)field = n;
		return 0;
	}
	return usage(err, errsz, "--%s: internal: an integer of %zu bytes", f->name, f->size);
}

static int store(const struct rs_flag *f, const char *v, void *target, char *err, size_t errsz)
{
	char *field = (char *)target + f->offset;
	switch (f->kind) {
	case RS_FLAG_SWITCH:
		*(bool *)field = true;
		return 0;
	case RS_FLAG_BOOL: {
		int b = v != NULL ? rs_flags_bool(v) : 1;
		if (b < 0) {
			return usage(err, errsz, "invalid --%s '%s' (true or false)", f->name,
					v != NULL ? v : "");
		}
		*(bool *)field = b == 1;
		return 0;
	}
	case RS_FLAG_UINT:
		return store_uint(f, v, field, err, errsz);
	case RS_FLAG_STRING:
		*(const char **)field = v;
		return 0;
	case RS_FLAG_LIST: {
		size_t *count = (size_t *)((char *)target + f->count_offset);
		if (*count >= f->max) {
			return usage(err, errsz, "too many --%s (at most %llu)", f->name,
					(unsigned long long)f->max);
		}
		((const char **)field)[(*count)++] = v;
		return 0;
	}
	case RS_FLAG_CALL:
	case RS_FLAG_CALL_OPT: {
		err[0] = '\0';
		int rc = f->set(target, f, v, err, errsz);
		if (rc < 0 && err[0] == '\0') {
			invalid(f, v != NULL ? v : "", err, errsz);
		}
		return rc;
	}
	}
	return usage(err, errsz, "--%s: internal: unknown kind", f->name);
}

/* One pass over argv. */
struct walk {
	const struct rs_flags *spec;
	void *target;
	const char *stray;             /* the first positional argument nobody takes */
	uint64_t seen[FLAGS_MAX / 64]; /* the flags stored, by index */
	char *err;
	size_t errsz;
};

/* Pass 1, per token: the positional arguments and STOP (the syntax was
 * checked by next_token()). @return 0, 1 to stop at a STOP flag, or < 0. */
static int read_token(struct walk *w, const struct token *t)
{
	if (t->positional != NULL && w->spec->positional != NULL) {
		w->err[0] = '\0';
		return w->spec->positional(w->target, t->positional, w->err, w->errsz);
	}
	if (t->positional != NULL && w->stray == NULL) {
		w->stray = t->positional;
	} else if (t->flag != NULL && (t->flag->opts & RS_FLAG_STOP)) {
		return store(t->flag, NULL, w->target, w->err, w->errsz) < 0 ? RS_EINVAL : 1;
	}
	return 0;
}

/* Pass 2, per token: a flag's value, once allowed. */
static int store_token(struct walk *w, const struct token *t)
{
	if (t->flag == NULL) {
		return 0;
	}
	int rc;
	if (w->spec->allow != NULL) {
		w->err[0] = '\0';
		if ((rc = w->spec->allow(w->target, t->flag, w->err, w->errsz)) < 0) {
			return rc;
		}
	}
	if ((rc = store(t->flag, t->value, w->target, w->err, w->errsz)) < 0) {
		return rc;
	}
	size_t k = (size_t)(t->flag - w->spec->flags);
	w->seen[k / 64] |= 1ULL << (k % 64);
	return 0;
}

/* Read argv's tokens in order, each to @p each, until one returns non-zero.
 * Pass 2 reads the argv pass 1 read without an error: next_token() cannot
 * fail there. */
static int walk(struct walk *w, int argc, char *const argv[],
		int (*each)(struct walk *, const struct token *))
{
	bool only_positional = false;
	for (int i = 0; i < argc; i++) {
		struct token t;
		int rc = next_token(
				w->spec, argc, argv, &i, &only_positional, &t, w->err, w->errsz);
		if (rc == 0) {
			rc = each(w, &t);
		}
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

int rs_flags_parse(const struct rs_flags *spec, int argc, char *const argv[], void *target,
		char *err, size_t errsz)
{
	err[0] = '\0';
	if (spec->n > FLAGS_MAX) {
		return usage(err, errsz, "internal: more than %d flags", FLAGS_MAX);
	}
	struct walk w = {.spec = spec, .target = target, .err = err, .errsz = errsz};
	int rc = walk(&w, argc, argv, read_token);
	if (rc == 0) {
		rc = walk(&w, argc, argv, store_token);
	}
	if (rc != 0) {
		return rc;
	}
	if (w.stray != NULL) {
		return usage(err, errsz, "unexpected argument '%s'", w.stray);
	}
	for (size_t k = 0; k < spec->n; k++) {
		const struct rs_flag *f = &spec->flags[k];
		if ((f->opts & RS_FLAG_REQUIRED) && !(w.seen[k / 64] & (1ULL << (k % 64)))) {
			return usage(err, errsz,
					f->kind == RS_FLAG_LIST ? "at least one --%s is required"
								: "--%s is required",
					f->name);
		}
	}
	return 0;
}

void rs_flags_help(FILE *out, const struct rs_flags *spec, rs_flag_default_cb dflt, const void *ud)
{
	for (size_t k = 0; k < spec->n; k++) {
		const struct rs_flag *f = &spec->flags[k];
		if (f->help == NULL) {
			continue;
		}
		char left[96], d[1024] = "", alias[8] = "";
		if (f->short_name != 0) {
			snprintf(alias, sizeof(alias), "-%c, ", f->short_name);
		}
		snprintf(left, sizeof(left), "%s--%s%s%s", alias, f->name,
				takes_value(f) ? " " : "",
				!takes_value(f)         ? ""
				: f->value_name != NULL ? f->value_name
							: "VALUE");
		if (dflt != NULL) {
			dflt(f, ud, d, sizeof(d));
		}
		const char *sep = d[0] != '\0' ? " " : "";
		if (strlen(left) > 32) {
			fprintf(out, "  %s\n  %-32s %s%s%s\n", left, "", f->help, sep, d);
		} else {
			fprintf(out, "  %-32s %s%s%s\n", left, f->help, sep, d);
		}
	}
}
