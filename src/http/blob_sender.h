/*
 * src/http/blob_sender.h — streaming a blob (or one byte range of it) as a
 * response body, without ever holding the blob in memory.
 *
 * A generator of our own (h2o's file sender ignores Range and sends bodies on
 * HEAD): each time h2o wants more, `proceed` reads the next piece (256 KiB)
 * with the blob reader at the current offset and sends it; `stop` (the
 * client went away) and the final piece close the reader. The status and
 * headers must be set before calling; the sender sets Content-Length.
 *
 *     req->res.status = 206; ...headers...
 *     blob_sender_start(req, reader, first_byte, byte_count);  // takes the reader
 *
 * A reader the store serves BLOB_SERVED_REMOTELY (S3's ranged GETs,
 * drivers/blob_store.h; a mirror's blob fill being followed, whose reads
 * wait for the upstream's bytes, src/registry/mirror.h) must not be read on
 * the event loop. A read that fails ends the response as broken
 * (H2O_SEND_STATE_ERROR: the connection closed or the stream reset before
 * Content-Length), never as complete. With
 * blob_sender_start_remote() each piece (4 MiB, one ranged GET) is read on a
 * worker thread and sent from the loop when it arrives, one piece in flight
 * per response, so memory stays bounded whatever the blob's size. The sender
 * outlives the request only as long as a read it started is running.
 */
#ifndef CAIRN_SRC_HTTP_BLOB_SENDER_H
#define CAIRN_SRC_HTTP_BLOB_SENDER_H

#include <h2o.h>
#include <stdint.h>
#include "drivers/blob_store.h"

/* Starts the response and streams `count` bytes from `offset`. Takes
 * ownership of `reader` (closed when done, also on HEAD). */
void blob_sender_start(h2o_req_t *req, struct blob_reader *reader, int64_t offset, int64_t count);

struct worker_pool;
/* The same, reading each piece on `pool` (results come back through
 * `receiver`, the loop's). */
void blob_sender_start_remote(h2o_req_t *req, struct blob_reader *reader, int64_t offset,
                              int64_t count, struct worker_pool *pool,
                              h2o_multithread_receiver_t *receiver);

#endif
