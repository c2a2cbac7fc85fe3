#include "server/api/convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/error.h"
#include "proto/frame.h"

/* A Request may unpack into at most this many times its frame size: bounds
 * protobuf-c's allocations (robustness catalogue 3.8). */
#define UNPACK_BUDGET_FACTOR 8
#define UNPACK_BUDGET_MIN 65536

Roster__V1__ErrorCode api_convert_error_code(int rc)
{
	switch (rc) {
	case RS_ENAME_EMPTY:
	case RS_ENAME_LABEL_LONG:
	case RS_ENAME_LONG:
	case RS_ENAME_CHAR:
	case RS_ENAME_HYPHEN:
	case RS_ENAME_NUMERIC:
	case RS_ENAME_SINGLE:
		return ROSTER__V1__ERROR_CODE__INVALID_NAME;
	case RS_EPORT:
	case RS_EINVAL:
	case RS_ETTL:
	case RS_ESTATUS:
	case RS_EADDR:
	case RS_EFIXED: /* no PERMISSION_DENIED in the protocol for this: the
			 * message says the instance is static */
		return ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT;
	case RS_ELEASE:
		return ROSTER__V1__ERROR_CODE__UNKNOWN_LEASE;
	case RS_ENOENT:
		return ROSTER__V1__ERROR_CODE__NOT_FOUND;
	case RS_ELIMIT:
		return ROSTER__V1__ERROR_CODE__LIMIT_EXCEEDED;
	case RS_EFRAME_BIG:
		return ROSTER__V1__ERROR_CODE__FRAME_TOO_LARGE;
	case RS_EFRAME_EMPTY:
	case RS_EPROTO:
		return ROSTER__V1__ERROR_CODE__MALFORMED;
	case RS_ESTORE_FULL:
	case RS_ENOSPC: /* a full disk: the store is as full as at --map-max */
		return ROSTER__V1__ERROR_CODE__STORAGE_FULL;
	case RS_ESTORE:
	case RS_ESTORE_PANIC:
	case RS_EIO:
		return ROSTER__V1__ERROR_CODE__STORAGE_ERROR;
	case RS_ENOMEM:
	case RS_EAGAIN:
	case RS_EBUSY: /* a backup runs already */
		return ROSTER__V1__ERROR_CODE__UNAVAILABLE;
	case RS_ENOTSUP:
		return ROSTER__V1__ERROR_CODE__UNSUPPORTED;
	case RS_EPERM:
		return ROSTER__V1__ERROR_CODE__PERMISSION_DENIED;
	default:
		return ROSTER__V1__ERROR_CODE__INTERNAL;
	}
}

Roster__V1__Status api_convert_status_to_pb(uint8_t status)
{
	switch (status) {
	case STORE_STATUS_STARTING:
		return ROSTER__V1__STATUS__STARTING;
	case STORE_STATUS_DOWN:
		return ROSTER__V1__STATUS__DOWN;
	default:
		return ROSTER__V1__STATUS__UP;
	}
}

static char *arena_strdup(struct rs_arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = rs_arena_alloc(a, n);
	if (d != NULL) {
		memcpy(d, s, n);
	}
	return d;
}

int api_convert_instance_to_pb(struct rs_arena *a, const char *service, const char *protocol,
		const struct store_instance *i, Roster__V1__Instance *pb)
{
	roster__v1__instance__init(pb);
	pb->service = (char *)service;
	pb->protocol = (char *)protocol;
	pb->host = (char *)i->host;
	pb->port = i->port;
	pb->priority = i->priority;
	pb->weight = i->weight;
	pb->status = api_convert_status_to_pb(i->status);
	pb->registered_at_ms = i->registered_at_ms;
	pb->status_since_ms = i->status_since_ms;
	pb->expiry = i->lease != NULL ? ROSTER__V1__EXPIRY_KIND__TIMED
		     : i->fixed       ? ROSTER__V1__EXPIRY_KIND__STATIC
				      : ROSTER__V1__EXPIRY_KIND__NEVER;
	pb->lease = i->lease != NULL ? i->lease->id : 0;
	pb->stale = i->stale;
	if (i->naddrs > 0) {
		pb->addresses = rs_arena_alloc(a, i->naddrs * sizeof(char *));
		if (pb->addresses == NULL) {
			return RS_ENOMEM;
		}
		for (uint8_t k = 0; k < i->naddrs; k++) {
			char text[RS_ADDR_TEXT_MAX];
			rs_addr_format(&i->addrs[k], text);
			pb->addresses[k] = arena_strdup(a, text);
			if (pb->addresses[k] == NULL) {
				return RS_ENOMEM;
			}
		}
		pb->n_addresses = i->naddrs;
	}
	if (i->nmeta > 0) {
		pb->metadata = rs_arena_alloc(a, i->nmeta * sizeof(*pb->metadata));
		Roster__V1__Instance__MetadataEntry *e = rs_arena_alloc(a, i->nmeta * sizeof(*e));
		if (pb->metadata == NULL || e == NULL) {
			return RS_ENOMEM;
		}
		for (uint8_t k = 0; k < i->nmeta; k++) {
			roster__v1__instance__metadata_entry__init(&e[k]);
			e[k].key = (char *)i->meta[k].key;
			e[k].value = (char *)i->meta[k].value;
			pb->metadata[k] = &e[k];
		}
		pb->n_metadata = i->nmeta;
	}
	return 0;
}

/* Register's status: unspecified means UP. */
static int status_from_pb(Roster__V1__Status st, enum store_status *out)
{
	switch (st) {
	case ROSTER__V1__STATUS__STATUS_UNSPECIFIED:
	case ROSTER__V1__STATUS__UP:
		*out = STORE_STATUS_UP;
		return 0;
	case ROSTER__V1__STATUS__STARTING:
		*out = STORE_STATUS_STARTING;
		return 0;
	case ROSTER__V1__STATUS__DOWN:
		*out = STORE_STATUS_DOWN;
		return 0;
	default:
		return RS_ESTATUS;
	}
}

int api_convert_registration(const Roster__V1__Instance *pb, uint64_t lease,
		const struct store_limits *limits, struct rs_arena *a,
		struct store_registration *reg, char *msg, size_t msgsz)
{
	memset(reg, 0, sizeof(*reg));
	reg->service = pb->service;
	reg->protocol = pb->protocol;
	reg->host = pb->host;
	reg->port = pb->port;
	reg->priority = pb->priority;
	reg->weight = pb->weight;
	reg->lease = lease;
	if (status_from_pb(pb->status, &reg->status) < 0) {
		snprintf(msg, msgsz, "unknown status %d", pb->status);
		return RS_ESTATUS;
	}
	if (pb->weight > UINT16_MAX || pb->priority > UINT16_MAX) {
		/* Both are 16-bit SRV fields (RFC 2782); the store refuses them
		 * too, without naming the field. */
		bool w = pb->weight > UINT16_MAX;
		snprintf(msg, msgsz, "invalid %s %u (0-65535)", w ? "weight" : "priority",
				w ? pb->weight : pb->priority);
		return RS_EINVAL;
	}
	if (pb->n_addresses > limits->max_addresses) {
		snprintf(msg, msgsz, "limit exceeded: %zu addresses on one instance (limit %u)",
				pb->n_addresses, limits->max_addresses);
		return RS_ELIMIT;
	}
	struct rs_addr *addrs = rs_arena_alloc(a, (pb->n_addresses + 1) * sizeof(*addrs));
	if (addrs == NULL) {
		snprintf(msg, msgsz, "out of memory");
		return RS_ENOMEM;
	}
	for (size_t k = 0; k < pb->n_addresses; k++) {
		if (rs_addr_parse(pb->addresses[k], &addrs[k]) < 0) {
			snprintf(msg, msgsz, "address '%.64s' is not an IPv4 or IPv6 address",
					pb->addresses[k]);
			return RS_EADDR;
		}
	}
	reg->addrs = addrs;
	reg->naddrs = pb->n_addresses; /* a repeat is folded by the store */
	if (pb->n_metadata > limits->max_metadata_entries) {
		snprintf(msg, msgsz,
				"limit exceeded: %zu metadata entries on one instance (limit %u)",
				pb->n_metadata, limits->max_metadata_entries);
		return RS_ELIMIT;
	}
	struct store_meta *meta = rs_arena_alloc(a, (pb->n_metadata + 1) * sizeof(*meta));
	if (meta == NULL) {
		snprintf(msg, msgsz, "out of memory");
		return RS_ENOMEM;
	}
	for (size_t k = 0; k < pb->n_metadata; k++) {
		meta[k].key = pb->metadata[k]->key;
		meta[k].value = pb->metadata[k]->value;
		int rc = api_convert_meta_check(meta[k].key, meta[k].value, msg, msgsz);
		if (rc < 0) {
			return rc;
		}
	}
	reg->meta = meta;
	reg->nmeta = pb->n_metadata;
	return 0;
}

int api_convert_append(struct api_ops_out *out, const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	size_t need = out->len + RS_FRAME_HEADER + n;
	if (api_ops_out_reserve(out, need) < 0) {
		return RS_ENOMEM;
	}
	rs_frame_header_write(out->data + out->len, (uint32_t)n);
	protobuf_c_message_pack(msg, out->data + out->len + RS_FRAME_HEADER);
	out->len = need;
	return 0;
}

/* ---- unpacking under a budget --------------------------------------------- */

static void *budget_alloc(void *data, size_t size)
{
	struct api_convert_request *r = data;
	if (size > r->budget_left) {
		return NULL;
	}
	size_t *p = malloc(size + sizeof(size_t));
	if (p == NULL) {
		r->nomem = true; /* the server's memory, not the frame, is at fault */
		return NULL;
	}
	r->budget_left -= size;
	p[0] = size;
	return p + 1;
}

static void budget_free(void *data, void *ptr)
{
	struct api_convert_request *r = data;
	if (ptr == NULL) {
		return;
	}
	size_t *p = (size_t *)ptr - 1;
	r->budget_left += p[0];
	free(p);
}

int api_convert_request_unpack(struct api_convert_request *r, const uint8_t *frame, size_t len)
{
	r->budget_left = len * UNPACK_BUDGET_FACTOR;
	if (r->budget_left < UNPACK_BUDGET_MIN) {
		r->budget_left = UNPACK_BUDGET_MIN;
	}
	r->nomem = false;
	r->alloc = (ProtobufCAllocator){budget_alloc, budget_free, r};
	r->q = roster__v1__request__unpack(&r->alloc, len, frame);
	if (r->q != NULL) {
		return 0;
	}
	/* protobuf-c's NULL means both "not a Request" and "an allocation
	 * failed": only the allocator knows which. */
	return r->nomem ? RS_ENOMEM : RS_EPROTO;
}

void api_convert_request_free(struct api_convert_request *r)
{
	if (r->q != NULL) {
		roster__v1__request__free_unpacked(r->q, &r->alloc);
		r->q = NULL;
	}
}

/* ---- names refused byte for byte ------------------------------------------ */

static int wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*p >= end) {
			return RS_EPROTO;
		}
		uint8_t b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			return 0;
		}
	}
	return RS_EPROTO;
}

/* Walk one message's fields; @p path names it for the message. */
static int strings_check(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
		const char *path, int depth, char *msg, size_t msgsz)
{
	while (p < end) {
		uint64_t key, n;
		if (wire_varint(&p, end, &key) < 0) {
			return 0; /* it unpacked: nothing of ours to say */
		}
		switch (key & 7) {
		case 0:
			if (wire_varint(&p, end, &n) < 0) {
				return 0;
			}
			continue;
		case 1:
			p += 8;
			continue;
		case 5:
			p += 4;
			continue;
		case 2:
			break;
		default:
			return 0;
		}
		if (wire_varint(&p, end, &n) < 0 || n > (uint64_t)(end - p)) {
			return 0;
		}
		const ProtobufCFieldDescriptor *f =
				protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
		if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, n) != NULL) {
			snprintf(msg, msgsz, "a NUL byte in %s%s%s: refused, not cut short", path,
					path[0] != '\0' ? "." : "", f->name);
			return RS_ENAME_CHAR;
		}
		if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE && depth < 8) {
			char sub[128];
			snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] != '\0' ? "." : "",
					f->name);
			int rc = strings_check(f->descriptor, p, p + n, sub, depth + 1, msg, msgsz);
			if (rc < 0) {
				return rc;
			}
		}
		p += n;
	}
	return 0;
}

uint64_t api_convert_request_id(const uint8_t *frame, size_t len)
{
	const uint8_t *p = frame, *end = frame + len;
	uint64_t id = 0;
	while (p < end) {
		uint64_t key, v;
		if (wire_varint(&p, end, &key) < 0) {
			return 0;
		}
		switch (key & 7) {
		case 0:
			if (wire_varint(&p, end, &v) < 0) {
				return 0;
			}
			if (key >> 3 == 1) {
				id = v; /* the last one wins, as in protobuf */
			}
			continue;
		case 1:
			v = 8;
			break;
		case 5:
			v = 4;
			break;
		case 2:
			if (wire_varint(&p, end, &v) < 0) {
				return 0;
			}
			break;
		default:
			return 0;
		}
		if (v > (uint64_t)(end - p)) {
			return 0;
		}
		p += v;
	}
	return id;
}

int api_convert_request_strings_check(const uint8_t *frame, size_t len, char *msg, size_t msgsz)
{
	/* The envelope's op fields are named after the operation; the path
	 * starts below it ("instance.host", "metadata.key"). */
	return strings_check(
			&roster__v1__request__descriptor, frame, frame + len, "", 0, msg, msgsz);
}

int api_convert_meta_check(const char *key, const char *value, char *msg, size_t msgsz)
{
	size_t kl = strlen(key);
	if (kl == 0 || kl > 255) {
		snprintf(msg, msgsz, "metadata key of %zu bytes (1-255)", kl);
		return RS_EINVAL;
	}
	for (size_t k = 0; k < kl; k++) {
		uint8_t c = (uint8_t)key[k];
		if (c < 0x21 || c > 0x7e || c == '=') {
			snprintf(msg, msgsz,
					"metadata key '%.64s': byte 0x%02x at %zu (printable ASCII, "
					"no space or '=')",
					key, c, k);
			return RS_EINVAL;
		}
	}
	for (size_t k = 0; value[k] != '\0'; k++) {
		uint8_t c = (uint8_t)value[k];
		if (c < 0x20 || c == 0x7f) {
			snprintf(msg, msgsz, "metadata '%.64s': control byte 0x%02x in its value",
					key, c);
			return RS_EINVAL;
		}
	}
	return 0;
}
