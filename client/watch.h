/*
 * client/watch.h - the client's watches on the engine's connections:
 * subscribe, deliver events, resume after a failure.
 *
 * Model: every watch rides on one registry at a time (e->watch_reg): the
 * first that connects, and after it fails, the next one that is connected.
 * A watch remembers the revision where its stream stands and resumes from
 * it on the same registry; revisions are per registry, so a move to another
 * one starts from a snapshot.
 *
 * Threads: the engine's loop thread, c->mu held. User callbacks run from
 * here and may cancel or start any watch: no pointer into the watch list is
 * kept across one.
 *
 * Must not: send anything but Watch and CancelWatch.
 */
#pragma once

#include "client/reg.h"

/**
 * On the registry carrying the watches (or the first one connected when
 * none does): send the pending CancelWatch requests, and a Watch for every
 * watch not subscribed.
 */
void watch_sync(struct reg *r);

/**
 * The registry carrying the watches failed: every watch it carried gets a
 * ROSTER_WATCH_RESYNC callback, then they move to another connected
 * registry, if any (else to the first that connects).
 */
void watch_lost(struct reg *r);

/**
 * A response that is no answer to a request in flight: a watch's event (its
 * callback is called), the registry's refusal or end of a watch (it is sent
 * again at the next tick, from a snapshot), or a stray (ignored).
 */
void watch_on_event(struct reg *r, const struct wire_response *rs);
