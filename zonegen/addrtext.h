/*
 * zonegen/addrtext.h - the zone writer's fast appenders for addresses, on an
 * rs_buf (common/buf.h): IPv4 dotted quads and IPv6 in RFC 5952 form, without
 * inet_ntop() and snprintf() in the loop that writes every host's A and
 * AAAA lines.
 *
 * Must not: differ by one byte from inet_ntop(): zone files are compared
 * byte for byte between runs and with other tools.
 *
 * Pure, no I/O, one thread. Like every rs_buf appender, an allocation
 * failure is sticky in the buffer (rs_buf_error()).
 */
#pragma once

#include <stdint.h>

#include "common/buf.h"

/** Append an IPv4 address (4 octets, network order) as a dotted quad. */
void zg_addrtext_v4(struct rs_buf *b, const uint8_t a[4]);

/**
 * Append an IPv6 address (16 octets) in RFC 5952 form, exactly as
 * inet_ntop() writes it (lower case, longest zero run as "::").
 */
void zg_addrtext_v6(struct rs_buf *b, const uint8_t a[16]);
