/* src/http/blob_sender.h */
#include "src/http/blob_sender.h"

#include <stddef.h>
#include <stdlib.h>

#include "src/http/response.h"
#include "src/http/worker_pool.h"

#define PIECE_SIZE (256 * 1024)

struct blob_sender {
    h2o_generator_t generator; /* first: h2o hands this pointer back */
    h2o_req_t *req;
    struct blob_reader *reader;
    int64_t offset;
    int64_t remaining;
    char *buffer;
};

static void sender_close(struct blob_sender *sender)
{
    if (sender->reader != NULL) {
        blob_reader_close(sender->reader);
        sender->reader = NULL;
    }
    free(sender->buffer);
    sender->buffer = NULL;
}

static void sender_dispose(void *memory)
{
    sender_close(memory);
}

static void sender_proceed(h2o_generator_t *generator, h2o_req_t *req)
{
    struct blob_sender *sender = (struct blob_sender *)generator;
    size_t want = sender->remaining < PIECE_SIZE ? (size_t)sender->remaining : PIECE_SIZE;
    ssize_t count = blob_reader_read(sender->reader, sender->buffer, want, sender->offset);
    if (count <= 0) {
        /* The blob shrank or failed under us: end the response as broken. */
        sender_close(sender);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    sender->offset += count;
    sender->remaining -= count;
    h2o_iovec_t piece = h2o_iovec_init(sender->buffer, (size_t)count);
    h2o_send_state_t state =
        sender->remaining > 0 ? H2O_SEND_STATE_IN_PROGRESS : H2O_SEND_STATE_FINAL;
    h2o_send(req, &piece, 1, state);
    /* On FINAL h2o will not call proceed again; the pool disposer frees. */
}

static void sender_stop(h2o_generator_t *generator, h2o_req_t *req)
{
    (void)req;
    sender_close((struct blob_sender *)generator);
}

void blob_sender_start(h2o_req_t *req, struct blob_reader *reader, int64_t offset, int64_t count)
{
    req->res.content_length = (size_t)count;
    if (request_is_head(req) || count == 0) {
        blob_reader_close(reader);
        static h2o_generator_t nothing = {NULL, NULL};
        h2o_start_response(req, &nothing);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    struct blob_sender *sender = h2o_mem_alloc_shared(&req->pool, sizeof *sender, sender_dispose);
    sender->generator.proceed = sender_proceed;
    sender->generator.stop = sender_stop;
    sender->req = req;
    sender->reader = reader;
    sender->offset = offset;
    sender->remaining = count;
    sender->buffer = malloc(count < PIECE_SIZE ? (size_t)count : PIECE_SIZE);
    if (sender->buffer == NULL) {
        sender_close(sender);
        response_send_error(req, REGISTRY_ERROR_INTERNAL, "out of memory");
        return;
    }
    h2o_start_response(req, &sender->generator);
    sender_proceed(&sender->generator, req);
}

/* ---- remote readers: pieces read on worker threads ---- */

#define REMOTE_PIECE_SIZE (4 * 1024 * 1024)

struct remote_sender {
    h2o_generator_t generator;
    struct request_work work; /* the one read in flight */
    h2o_req_t *req;           /* NULL once the request is gone */
    int reading;              /* a read was submitted and has not completed */
    struct blob_reader *reader;
    int64_t offset;
    int64_t remaining;
    ssize_t count; /* what the last read returned */
    char *buffer;
    struct worker_pool *pool;
    h2o_multithread_receiver_t *receiver;
};

static void remote_free(struct remote_sender *sender)
{
    blob_reader_close(sender->reader);
    free(sender->buffer);
    free(sender);
}

/* Runs when h2o frees the request: the sender goes now, or when its read
 * comes back. */
static void remote_handle_dispose(void *memory)
{
    struct remote_sender *sender = *(struct remote_sender **)memory;
    sender->req = NULL;
    if (!sender->reading)
        remote_free(sender);
}

static void remote_read_run(struct request_work *work)
{
    struct remote_sender *sender =
        (struct remote_sender *)((char *)work - offsetof(struct remote_sender, work));
    size_t want =
        sender->remaining < REMOTE_PIECE_SIZE ? (size_t)sender->remaining : REMOTE_PIECE_SIZE;
    sender->count = blob_reader_read(sender->reader, sender->buffer, want, sender->offset);
    request_work_set_result(work, sender->count < 0 ? (int)sender->count : 0);
}

static void remote_read_complete(struct request_work *work)
{
    struct remote_sender *sender =
        (struct remote_sender *)((char *)work - offsetof(struct remote_sender, work));
    h2o_req_t *req = sender->req;
    sender->reading = 0;
    request_work_dispose(work);
    if (req == NULL) {
        remote_free(sender);
        return;
    }
    if (sender->count <= 0) {
        if (sender->count < 0)
            h2o_req_log_error(req, "cairn", "blob read failed: %s\n", work->error_text);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    sender->offset += sender->count;
    sender->remaining -= sender->count;
    h2o_iovec_t piece = h2o_iovec_init(sender->buffer, (size_t)sender->count);
    h2o_send_state_t state =
        sender->remaining > 0 ? H2O_SEND_STATE_IN_PROGRESS : H2O_SEND_STATE_FINAL;
    /* h2o may call proceed, or free the request (and the sender), inside. */
    h2o_send(req, &piece, 1, state);
}

/* From the thread that made the bytes come (blob_reader_ready). */
static void remote_wake(void *context)
{
    struct remote_sender *sender = context;
    worker_pool_submit(sender->pool, &sender->work);
}

/* The next piece: read on a worker, once it can be read without waiting
 * for bytes still to come (a mirror's fill), so no worker is held while
 * they come. Until then `reading` keeps the sender (and its reader). */
static void remote_proceed(h2o_generator_t *generator, h2o_req_t *req)
{
    struct remote_sender *sender = (struct remote_sender *)generator;
    sender->reading = 1;
    request_work_init(&sender->work, req, sender->receiver, remote_read_run, remote_read_complete);
    size_t want =
        sender->remaining < REMOTE_PIECE_SIZE ? (size_t)sender->remaining : REMOTE_PIECE_SIZE;
    if (blob_reader_ready(sender->reader, sender->offset, want, remote_wake, sender) != 0)
        worker_pool_submit(sender->pool, &sender->work);
}

static void remote_stop(h2o_generator_t *generator, h2o_req_t *req)
{
    /* The request is being freed: remote_handle_dispose does the rest. */
    (void)generator;
    (void)req;
}

void blob_sender_start_remote(h2o_req_t *req, struct blob_reader *reader, int64_t offset,
                              int64_t count, struct worker_pool *pool,
                              h2o_multithread_receiver_t *receiver)
{
    if (request_is_head(req) || count == 0) {
        blob_sender_start(req, reader, offset, count);
        return;
    }
    req->res.content_length = (size_t)count;
    struct remote_sender *sender = calloc(1, sizeof *sender);
    char *buffer = malloc(count < REMOTE_PIECE_SIZE ? (size_t)count : REMOTE_PIECE_SIZE);
    if (sender == NULL || buffer == NULL) {
        free(sender);
        free(buffer);
        blob_reader_close(reader);
        response_send_error(req, REGISTRY_ERROR_INTERNAL, "out of memory");
        return;
    }
    sender->generator.proceed = remote_proceed;
    sender->generator.stop = remote_stop;
    sender->req = req;
    sender->reader = reader;
    sender->offset = offset;
    sender->remaining = count;
    sender->buffer = buffer;
    sender->pool = pool;
    sender->receiver = receiver;
    struct remote_sender **handle =
        h2o_mem_alloc_shared(&req->pool, sizeof *handle, remote_handle_dispose);
    *handle = sender;
    h2o_start_response(req, &sender->generator);
    remote_proceed(&sender->generator, req);
}
