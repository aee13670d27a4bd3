/*
 * src/observe/event_spool.h — the durable queue of registry events
 * (docs/events.md): a plain directory that survives kill -9 and restarts,
 * read by every endpoint at its own position.
 *
 * Layout of the spool directory S (cairn.events.spool; default
 * <root>/cairn-events, beside Distribution's docker/ folder):
 *
 *   S/lock                        flock()ed by the one server using S
 *   S/queue/<20 digits>.events    segments: one event (a JSON object) per
 *                                 line; the name is the sequence number of
 *                                 its first event
 *   S/endpoints/<name>.position   the sequence number of the endpoint's next
 *                                 event to deliver, as decimal text
 *
 * Invariants:
 *  - Sequence numbers start at 1 and grow by one per event, across
 *    segments; a segment holds the events from its name's number up to the
 *    next segment's, in order.
 *  - An event appended with `durable` is on disk (the segment fdatasync'ed,
 *    and the directory synced when the segment is new) when
 *    event_spool_append() returns 0. Appends that wait at the same time
 *    share one fdatasync (group commit): the first to wait syncs for all
 *    appended before it started, the others wait for it.
 *  - A crash can leave a partial last line (an append cut short that was
 *    never acknowledged): event_spool_open() cuts it off.
 *  - A position file is written without a sync (atomic rename): after a
 *    crash an endpoint may get again what it got last (at least once, never
 *    lost).
 *  - A segment is deleted once every endpoint's position is past it. An
 *    endpoint whose backlog exceeds `max_bytes`, or whose oldest
 *    undelivered segment was last written more than `max_age_seconds` ago,
 *    has whole segments dropped from its backlog (oldest first, never the
 *    segment being written): they are counted for the caller to log.
 *
 * Thread safety: every call may be made from any thread (one mutex; the
 * fdatasync runs without it).
 *
 *     struct event_spool *spool;
 *     if (event_spool_open("/srv/registry/cairn-events", 1 << 30, 7 * 86400, &spool) < 0) ...
 *     uint64_t sequence;
 *     event_spool_append(spool, json, length, 1, &sequence);   // before the 201
 *     // an endpoint:
 *     uint64_t next = event_spool_position(spool, "hook");     // from its file, or the end
 *     char *line; size_t length;
 *     if (event_spool_read(spool, next, &line, &length) == 1) { deliver; free(line); }
 *     event_spool_set_position(spool, "hook", next + 1);
 */
#ifndef CAIRN_SRC_OBSERVE_EVENT_SPOOL_H
#define CAIRN_SRC_OBSERVE_EVENT_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct event_spool;

/* Largest event a spool takes (one line). */
#define EVENT_SPOOL_EVENT_MAX (64 * 1024)
/* A segment is closed (and a new one started) past this size, or past a
 * sixteenth of max_bytes when that is smaller (at least 64 KiB). */
#define EVENT_SPOOL_SEGMENT_BYTES (4 * 1024 * 1024)

/* Opens (creating it) and locks the spool at `directory`. -EBUSY when
 * another process holds it; other negative errno with a message. */
int event_spool_open(const char *directory, uint64_t max_bytes, uint64_t max_age_seconds,
                     struct event_spool **spool_out);
void event_spool_close(struct event_spool *spool);

/* Appends one event (`length` bytes of JSON, no newline). With `durable`,
 * returns once it is on disk. *sequence_out (may be NULL): its number. */
int event_spool_append(struct event_spool *spool, const char *event, size_t length, int durable,
                       uint64_t *sequence_out);

/* The sequence number the next append gets. */
uint64_t event_spool_end(struct event_spool *spool);

/* The endpoint's next sequence number: from its position file, or (an
 * endpoint new to this spool) the end, which is recorded; a position file
 * that cannot be read gives the oldest event kept. */
uint64_t event_spool_position(struct event_spool *spool, const char *endpoint);
/* Records it (no sync). 0 or negative errno. */
int event_spool_set_position(struct event_spool *spool, const char *endpoint, uint64_t next);
/* Forgets an endpoint (its position file goes). */
void event_spool_forget(struct event_spool *spool, const char *endpoint);

/* The event `sequence`: 1 with a malloc'ed copy (NUL-terminated, no
 * newline) in *event_out; 0 when it is not written yet; -ENOENT when it was
 * dropped or removed (*sequence_out... see event_spool_oldest). */
int event_spool_read(struct event_spool *spool, uint64_t sequence, char **event_out,
                     size_t *length_out);

/* The oldest sequence number still in the spool. */
uint64_t event_spool_oldest(struct event_spool *spool);

/* Applies the bounds to the endpoint at `next`: returns the position it
 * must continue from (next, or past the segments dropped from its backlog),
 * with the number of events dropped in *dropped_out. */
uint64_t event_spool_bound(struct event_spool *spool, uint64_t next, uint64_t *dropped_out);

/* Deletes the segments every endpoint in `positions` (the next sequence of
 * each) is past. */
void event_spool_trim(struct event_spool *spool, const uint64_t *positions, size_t count);

#endif
