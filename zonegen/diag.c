#include "zonegen/diag.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

void zg_diag_init(struct zg_diag *d, FILE *out)
{
	memset(d, 0, sizeof(*d));
	d->out = out;
}

/* Count, keep and print one message; errors also keep the first. */
static void emit(struct zg_diag *d, bool error, const char *fmt, va_list ap)
		__attribute__((format(printf, 3, 0)));

static void emit(struct zg_diag *d, bool error, const char *fmt, va_list ap)
{
	size_t nth = error ? ++d->errors : ++d->warnings;
	vsnprintf(d->last, sizeof(d->last), fmt, ap);
	if (error && nth == 1) {
		memcpy(d->first, d->last, sizeof(d->first));
	}
	if (d->out != NULL && nth <= ZG_DIAG_PRINT_MAX) {
		fprintf(d->out, "roster-zonegen: %s: %s\n", error ? "error" : "warning", d->last);
	}
}

void zg_diag_error(struct zg_diag *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(d, true, fmt, ap);
	va_end(ap);
}

void zg_diag_warn(struct zg_diag *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(d, false, fmt, ap);
	va_end(ap);
}

void zg_diag_finish(struct zg_diag *d)
{
	if (d->out == NULL) {
		return;
	}
	if (d->errors > ZG_DIAG_PRINT_MAX) {
		fprintf(d->out, "roster-zonegen: %zu more errors not shown\n",
				d->errors - ZG_DIAG_PRINT_MAX);
	}
	if (d->warnings > ZG_DIAG_PRINT_MAX) {
		fprintf(d->out, "roster-zonegen: %zu more warnings not shown\n",
				d->warnings - ZG_DIAG_PRINT_MAX);
	}
}
