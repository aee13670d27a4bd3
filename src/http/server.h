/*
 * src/http/server.h — the running server: h2o event loops, one per thread, each
 * with its own listening socket (SO_REUSEPORT) and h2o context, sharing one
 * h2o configuration and one `struct registry`.
 *
 * server_run() opens the tree, starts the worker pool and the loops, and then
 * waits for SIGTERM or SIGINT: the loops stop accepting, ask open connections
 * to close after their current request, let in-flight requests and their
 * worker jobs finish (bounded by cairn.shutdown_grace), and
 * server_run() returns 0. Failures to start return non-zero with a message
 * on stderr.
 */
#ifndef CAIRN_SRC_HTTP_SERVER_H
#define CAIRN_SRC_HTTP_SERVER_H

#include "src/config/options.h"

int server_run(struct options *options);

#endif
