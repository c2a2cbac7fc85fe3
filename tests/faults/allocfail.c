/* tests/faults/allocfail.c - see allocfail.h. realloc(p, 0) and a NULL
 * strdup() argument are passed through as they are: only an allocation
 * that could really fail is counted. */
#include "allocfail.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

static size_t counted;
static size_t fail_at; /* 0: disarmed */
static bool fail_on;   /* every one from fail_at on */
static bool struck;

void allocfail_arm(size_t nth)
{
	counted = 0;
	fail_at = nth;
	fail_on = false;
	struck = false;
}

void allocfail_arm_from(size_t nth)
{
	allocfail_arm(nth);
	fail_on = true;
}

void allocfail_disarm(void)
{
	counted = 0;
	fail_at = 0;
	fail_on = false;
}

bool allocfail_struck(void)
{
	return struck;
}

size_t allocfail_count(void)
{
	return counted;
}

/* Count one allocation; true when it is to fail. */
static bool fails(void)
{
	counted++;
	if (fail_at != 0 && (counted == fail_at || (fail_on && counted > fail_at))) {
		struck = true;
		errno = ENOMEM;
		return true;
	}
	return false;
}

void *__wrap_malloc(size_t n)
{
	return fails() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	if (n == 0) {
		return __real_realloc(p, n);
	}
	return fails() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return fails() ? NULL : __real_strdup(s);
}
