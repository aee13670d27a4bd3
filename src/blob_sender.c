/* src/blob_sender.h */
#include "src/blob_sender.h"

#include <stdlib.h>

#include "src/response.h"

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
