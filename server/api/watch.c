#include "server/api/watch.h"

#include <string.h>

#include "common/error.h"
#include "server/api/convert.h"

typedef Roster__V1__WatchEvent__Kind EventKind;

bool api_watch_matches(const struct api_watch *w, const char *service)
{
	return w->service[0] == '\0' || strcmp(w->service, service) == 0;
}

static const char *reason_text(enum store_remove_reason r)
{
	switch (r) {
	case STORE_REMOVED_DEREGISTERED:
		return "deregistered";
	case STORE_REMOVED_EXPIRED:
		return "expired";
	case STORE_REMOVED_LEASE_CLOSED:
		return "lease-closed";
	case STORE_REMOVED_STALE_AGED:
		return "stale-aged";
	default:
		return "";
	}
}

static EventKind change_kind(enum store_change_kind kind)
{
	return kind == STORE_CHANGE_UPSERT ? ROSTER__V1__WATCH_EVENT__KIND__UPSERT
					   : ROSTER__V1__WATCH_EVENT__KIND__REMOVE;
}

/* One event; @p i NULL for the snapshot's bounds. */
static int event_append(const struct api_watch_sink *sink, uint64_t watch_id, EventKind kind,
		uint64_t revision, const char *service, const char *protocol,
		const struct store_instance *i, const char *reason)
{
	Roster__V1__WatchEvent ev = ROSTER__V1__WATCH_EVENT__INIT;
	Roster__V1__Instance pb;
	ev.kind = kind;
	ev.revision = revision;
	int rc = 0;
	if (i != NULL) {
		rc = api_convert_instance_to_pb(sink->scratch, service, protocol, i, &pb);
		ev.instance = &pb;
	}
	ev.reason = (char *)(reason != NULL ? reason : "");
	if (rc == 0) {
		rc = API_CONVERT_RESULT_APPEND(sink->out, watch_id, WATCH_EVENT, watch_event, &ev);
	}
	if (rc == 0) {
		(*sink->events)++;
	}
	rs_arena_reset(sink->scratch);
	return rc;
}

struct replay_ctx {
	const struct api_watch_sink *sink;
	const struct api_watch *w;
	int rc;
};

static int replay_one(const struct store_journal_entry *e, void *ud)
{
	struct replay_ctx *r = ud;
	if (!api_watch_matches(r->w, e->service)) {
		return 0;
	}
	r->rc = event_append(r->sink, r->w->id, change_kind(e->kind), e->revision, e->service,
			e->protocol, e->copy,
			e->kind == STORE_CHANGE_REMOVE ? reason_text(e->reason) : NULL);
	return r->rc < 0 ? 1 : 0;
}

static int snapshot_one(const struct store_service *s, void *ud)
{
	struct replay_ctx *r = ud;
	if (!api_watch_matches(r->w, s->name)) {
		return 0;
	}
	for (uint32_t j = 0; j < s->ninstances && r->rc == 0; j++) {
		const struct store_instance *i = s->instances[j];
		r->rc = event_append(r->sink, r->w->id, ROSTER__V1__WATCH_EVENT__KIND__UPSERT,
				i->revision, s->name, s->protocol, i, NULL);
	}
	return r->rc < 0 ? 1 : 0;
}

int api_watch_open(const struct store *store, const struct api_watch *w, uint64_t since,
		const struct api_watch_sink *sink)
{
	struct replay_ctx r = {sink, w, 0};
	uint64_t rev = store_revision(store);
	if (since != 0 && since <= rev &&
			store_journal_foreach(store, since, replay_one, &r) != RS_ERANGE) {
		return r.rc;
	}
	r.rc = event_append(sink, w->id, ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_BEGIN, rev, NULL,
			NULL, NULL, NULL);
	if (r.rc == 0) {
		int rc = store_service_foreach(store, snapshot_one, &r);
		r.rc = rc != 0 ? rc : r.rc; /* never a snapshot without some services */
	}
	if (r.rc == 0) {
		r.rc = event_append(sink, w->id, ROSTER__V1__WATCH_EVENT__KIND__SNAPSHOT_END, rev,
				NULL, NULL, NULL, NULL);
	}
	return r.rc;
}

int api_watch_change_append(
		const struct api_watch_sink *sink, uint64_t watch_id, const struct store_change *ch)
{
	const struct store_instance *i = ch->instance;
	return event_append(sink, watch_id, change_kind(ch->kind), ch->revision, i->service->name,
			i->service->protocol, i,
			ch->kind == STORE_CHANGE_REMOVE ? reason_text(ch->reason) : NULL);
}
