/*
 * src/options.h — how the server was asked to run: the command line, over
 * the few settings read from a config file, over built-in defaults.
 *
 * Defaults: root ./data, listen 127.0.0.1:5000, one event loop per core,
 * bodies up to 16 GiB, a 15-minute HTTP/1 request deadline, deletes enabled.
 * The config file is YAML with Distribution's keys (storage.filesystem.
 * rootdirectory, http.addr, storage.delete.enabled) and cairn's own under
 * `cairn:` (threads, max_body_size, request_timeout); flags win over it.
 *
 *     struct options options;
 *     int result = options_parse(&options, argc, argv);
 *     // 0: run; 1: --help/--version printed, exit 0; <0: usage error printed
 */
#ifndef CAIRN_SRC_OPTIONS_H
#define CAIRN_SRC_OPTIONS_H

#include <stdint.h>
#include <stdio.h>
#include "layout/tree.h"

#define OPTIONS_DEFAULT_ROOT "./data"
#define OPTIONS_DEFAULT_LISTEN "127.0.0.1:5000"

struct options {
    char root_directory[TREE_PATH_MAX];
    char listen_host[256];
    char listen_port[16];
    unsigned threads;                 /* event loops */
    unsigned workers;                 /* threads for fsync and hashing */
    uint64_t max_body_size;           /* bytes */
    uint64_t request_timeout_seconds; /* HTTP/1 deadline per request */
    uint64_t shutdown_grace_seconds;  /* how long SIGTERM waits for requests */
    int delete_enabled;
};

/* Fills `options` from defaults, then the config file (--config), then flags.
 * Messages go to `errors`. */
int options_parse(struct options *options, int argc, char **argv, FILE *errors);

#endif
