/*
 * src/http/worker_pool.h — slow work (fsync, hashing large bodies) off the event
 * loops, with the result handed back to the loop that asked for it.
 *
 * An event loop must never wait on the disk for long. A handler that needs
 * to fsync or hash fills a `struct request_work` and submits it: `run` is
 * called on a worker thread, then `complete` on the loop thread that
 * submitted it (through h2o's per-context message queue). Only `complete`
 * may touch h2o.
 *
 * The request may disappear while the work runs (on HTTP/2 a reset or a
 * closed connection frees it, and with it the buffered body). A guard in the
 * request's pool tells the work: afterwards `request` is NULL in `complete`
 * and request_work_consume_body() returns -ECANCELED. The body is read in
 * slices under a read lock (several threads may read it at once), so the
 * request cannot be freed in the middle of one: the loop waits at most one
 * slice (1 MiB) when it frees a request.
 *
 *     struct my_work { struct request_work work; ... };
 *     request_work_init(&w->work, req, run, complete);
 *     worker_pool_submit(pool, &w->work);
 *     // complete(work): if (work->request) respond...; then free(w).
 *
 * A pool may bound its queue (the password checks' pool does: a login flood
 * must not pile up work without end): worker_pool_try_submit() then refuses
 * at once, -EBUSY, when that many works already wait for a thread, and the
 * caller answers 503 instead of making the client wait.
 */
#ifndef CAIRN_SRC_HTTP_WORKER_POOL_H
#define CAIRN_SRC_HTTP_WORKER_POOL_H

#include <h2o.h>
#include <pthread.h>
#include "layout/error.h"

struct worker_pool;
struct request_guard;

struct request_work {
    h2o_multithread_message_t message;
    h2o_multithread_receiver_t *receiver;
    struct worker_pool *pool;
    struct request_work *next_queued;
    void (*run)(struct request_work *work);
    void (*complete)(struct request_work *work);
    h2o_req_t *request; /* NULL once the request is gone (loop thread only) */
    struct request_guard *guard;
    pthread_rwlock_t body_lock;
    h2o_iovec_t body;                   /* the request's entity; emptied when the request goes */
    int result;                         /* what `run` returns to `complete` */
    char error_text[ERROR_MESSAGE_MAX]; /* error_message() of the worker, if result < 0 */
};

/* `queue_limit`: works that may wait for a thread (0: no limit). */
int worker_pool_start(unsigned thread_count, unsigned queue_limit, struct worker_pool **pool_out);
/* Runs the work that was submitted, then joins the threads. */
void worker_pool_stop(struct worker_pool *pool);

/* Each event loop registers one receiver with this callback on its
 * context's queue; request_work_init() finds it through the request. */
void worker_pool_receive(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages);

/* Prepares `work` for `request` (whose context's receiver is looked up with
 * `receiver`). Must be called on the loop thread. */
void request_work_init(struct request_work *work, h2o_req_t *request,
                       h2o_multithread_receiver_t *receiver, void (*run)(struct request_work *work),
                       void (*complete)(struct request_work *work));
void worker_pool_submit(struct worker_pool *pool, struct request_work *work);
/* Hands `work` (prepared with request_work_init) to its loop's `complete`
 * without running it, from any thread: what a running work uses to tell
 * its loop something before it ends (a mirrored blob that can be
 * streamed). Counted as outstanding like a submitted work. */
void worker_pool_post(struct worker_pool *pool, struct request_work *work);
/* worker_pool_submit(), or -EBUSY (nothing submitted) when the queue is full. */
int worker_pool_try_submit(struct worker_pool *pool, struct request_work *work);

/* Work submitted whose `complete` has not run yet (a loop must not exit
 * while its own work is outstanding). */
unsigned long worker_pool_outstanding(struct worker_pool *pool);

/* Calls consume(context, slice, length) for successive slices of the body
 * starting at `offset`; stops at the first non-zero return. -ECANCELED when
 * the request went away. Any thread but the loop's; two threads may consume
 * the same body at once. */
int request_work_consume_body(struct request_work *work, size_t offset,
                              int (*consume)(void *context, const char *data, size_t length),
                              void *context);

/* Stores `result` and, when it is a failure, this thread's error_message(). */
void request_work_set_result(struct request_work *work, int result);

/* Releases the work's resources (not the memory holding it). Loop thread. */
void request_work_dispose(struct request_work *work);

#endif
