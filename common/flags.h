/*
 * common/flags.h - command-line flags from a declarative table.
 *
 * Model: a program describes its flags once, as an array of struct rs_flag
 * (name, kind, where the value goes, range, help), and rs_flags_parse()
 * reads argv against it into the program's own struct, the target. The
 * same table prints the --help list (rs_flags_help()).
 *
 * Syntax (what rosterd, roster and roster-zonegen accept):
 *   --name VALUE, --name=VALUE  a flag with a value; the next argument is
 *                               its value even when it starts with '-'
 *   --name                      a switch; a BOOL also takes --name=WORD
 *   -x VALUE, -xVALUE, -x       a flag's one-letter alias (no clusters)
 *   --                          everything after it is positional
 *   -                           positional, like any non-flag argument
 * With RS_FLAGS_ABBREV an unambiguous prefix of a long name stands for it
 * (GNU getopt_long's rule; an exact name always wins).
 *
 * Order of work, and so of errors: pass 1 reads argv left to right: an
 * unknown or ambiguous flag, a missing value or a value given to a switch
 * stops it, a STOP flag (--help) ends it (rs_flags_parse() returns 1), and
 * each positional argument goes to the spec's positional callback in turn.
 * Pass 2, once every positional argument is known, stores the values in
 * argv order (a later value of a flag replaces an earlier one; LIST flags
 * append). Then a stray positional argument (no positional callback) and
 * then missing REQUIRED flags, in table order, are errors.
 *
 * Errors are one line in the caller's buffer, without a program prefix or
 * a newline, naming the flag: "unknown option '--bogus'", "option '--ttl'
 * needs a value", "option '--all' takes no value", "invalid --port '0'
 * (1-65535)", "too many --ns (at most 8)", "--domain is required".
 *
 * Must not: print (but rs_flags_help()), exit, keep state between calls
 * (unlike getopt: no optind), or allocate. String values are views into
 * argv, which the caller keeps alive.
 *
 * Threads: pure; tables are usually static const.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct rs_flag;

/**
 * Store one value of a CALL or CALL_OPT flag into @p target.
 * @param value the value (a view into argv); NULL for a CALL_OPT flag given
 *        without "=VALUE".
 * @param err where to write a one-line message; leave it empty to get the
 *        standard "invalid --NAME 'VALUE' (HINT)" from the flag's hint.
 * @return 0, or a negative code (returned by rs_flags_parse()).
 */
typedef int (*rs_flag_set_cb)(void *target, const struct rs_flag *flag, const char *value,
		char *err, size_t errsz);

/**
 * Take one positional argument (a command word...).
 * @return 0, or a negative code with @p err set.
 */
typedef int (*rs_flag_positional_cb)(void *target, const char *arg, char *err, size_t errsz);

/**
 * May @p flag be applied now? Called in pass 2 before each value is stored,
 * e.g. to refuse an option the command does not take.
 * @return 0, or a negative code with @p err set.
 */
typedef int (*rs_flag_allow_cb)(void *target, const struct rs_flag *flag, char *err, size_t errsz);

/**
 * Write the default of @p flag as --help shows it ("(default 10s)"), or
 * leave @p out empty for none.
 */
typedef void (*rs_flag_default_cb)(
		const struct rs_flag *flag, const void *ud, char *out, size_t outsz);

enum rs_flag_kind {
	RS_FLAG_SWITCH,   /**< no value: sets the bool at offset to true */
	RS_FLAG_BOOL,     /**< --name sets the bool true; --name=WORD sets it to WORD:
			       true/yes/on/1 or false/no/off/0 */
	RS_FLAG_UINT,     /**< a decimal in [min, max], digits only, into the unsigned
			       integer of `size` bytes (1, 2, 4 or 8) at offset */
	RS_FLAG_STRING,   /**< the value (a view into argv) into the const char * at offset */
	RS_FLAG_LIST,     /**< repeatable: each value is appended to the const char *[max]
			       at offset, the count (a size_t) at count_offset */
	RS_FLAG_CALL,     /**< the value goes to set() */
	RS_FLAG_CALL_OPT, /**< set() with "=VALUE", or NULL when given bare */
};

/** rs_flag.opts bits. */
enum rs_flag_opt {
	RS_FLAG_REQUIRED = 1, /**< an error when never given */
	RS_FLAG_STOP = 2,     /**< a SWITCH that ends parsing (--help, --version):
				   rs_flags_parse() returns 1 */
};

struct rs_flag {
	const char *name; /**< the long name, without "--" */
	char short_name;  /**< its one-letter alias, or 0 */
	enum rs_flag_kind kind;
	unsigned opts;          /**< enum rs_flag_opt bits */
	size_t offset;          /**< of the field in the target */
	size_t size;            /**< UINT: the field's size */
	size_t count_offset;    /**< LIST: of its size_t count in the target */
	uint64_t min, max;      /**< UINT: the range; LIST: max is the array's length */
	rs_flag_set_cb set;     /**< CALL, CALL_OPT */
	uint32_t groups;        /**< the caller's bits, for its allow callback */
	const char *hint;       /**< what a valid value is, for "invalid --NAME 'V' (HINT)";
				     NULL: UINT shows "MIN-MAX" */
	const char *value_name; /**< --help: "--name VALUE_NAME"; NULL: "VALUE" */
	const char *help;       /**< --help: one line; NULL: not listed */
};

/** The offset and size of @p field of struct type @p type, for a UINT flag. */
#define RS_FLAG_FIELD(type, field)                                                                 \
	.offset = offsetof(type, field), .size = sizeof(((type *)0)->field)

/** The array @p field and its size_t @p count of struct type @p type, for a LIST flag. */
#define RS_FLAG_ARRAY(type, field, count)                                                          \
	.offset = offsetof(type, field), .count_offset = offsetof(type, count),                    \
	.max = sizeof(((type *)0)->field) / sizeof(((type *)0)->field[0])

/** rs_flags.opts bits. */
enum rs_flags_opt {
	RS_FLAGS_ABBREV = 1, /**< accept unambiguous prefixes of long names */
};

/** A program's flags. */
struct rs_flags {
	const struct rs_flag *flags;
	size_t n;
	unsigned opts;                    /**< enum rs_flags_opt bits */
	rs_flag_positional_cb positional; /**< NULL: a positional argument is an error */
	rs_flag_allow_cb allow;           /**< NULL: every flag applies */
};

/**
 * Parse the arguments after the program name into @p target.
 * @param argv borrowed; STRING and LIST values point into it.
 * @param err set to a one-line message on failure (see the header).
 * @return 0; 1 when a STOP flag was given (its bool is set; nothing after
 *         it was read and no other value was stored); RS_EINVAL for a usage
 *         error; or the negative code a callback returned. @p err is set
 *         whenever it is negative.
 */
__attribute__((warn_unused_result)) int rs_flags_parse(const struct rs_flags *spec, int argc,
		char *const argv[], void *target, char *err, size_t errsz);

/**
 * Find a flag by its long name (exact, as in a config file's keys).
 * @return the flag, or NULL.
 */
const struct rs_flag *rs_flags_find(const struct rs_flags *spec, const char *name);

/**
 * Parse a decimal in [@p min, @p max]: digits only, no sign, no space.
 * @return 0, or RS_EINVAL (not a number, too large) or RS_ERANGE (outside
 *         the range); @p out is set only on success.
 */
__attribute__((warn_unused_result)) int rs_flags_uint(
		const char *text, uint64_t min, uint64_t max, uint64_t *out);

/**
 * Parse a boolean word: true, yes, on, 1 or false, no, off, 0.
 * @return 1 (true), 0 (false) or RS_EINVAL.
 */
__attribute__((warn_unused_result)) int rs_flags_bool(const char *text);

/**
 * Print one line per flag that has help, in table order: two spaces,
 * "--name VALUE" (no VALUE for SWITCH, BOOL and CALL_OPT) padded to 32
 * columns (a longer one gets a line of its own), the help, and the default
 * when @p dflt writes one. One-letter aliases are not shown.
 * @param dflt NULL: no defaults shown.
 * @param ud passed to @p dflt.
 */
void rs_flags_help(FILE *out, const struct rs_flags *spec, rs_flag_default_cb dflt, const void *ud);
