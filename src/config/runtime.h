/*
 * src/config/runtime.h — everything that may change while cairn runs, as one
 * immutable, reference-counted snapshot: the configuration and what is built
 * from it (TLS context, password table, token verifier, access rules).
 *
 * A snapshot is built completely and validated before anyone sees it; a
 * reload that fails leaves the running snapshot untouched. Publishing a new
 * one bumps a generation number; each event loop notices the new generation
 * at its next request or accept and switches (runtime_current() takes a
 * mutex, but only then), so the request path itself reads one atomic
 * integer. Every request holds a reference to the snapshot it started with
 * until it is freed, so in-flight requests finish with the settings they
 * started with and the old snapshot is freed by whoever drops it last.
 *
 * Settings that cannot change live (listen address, root directory, threads,
 * workers, body limits and timeouts) keep their old values in a new snapshot
 * and are reported as needing a restart. Mirrors (proxy: and cairn.mirrors)
 * change live: each snapshot has its own upstream clients (credentials files
 * are read again, cached tokens start empty), and a mirror removed from the
 * file stops being one for new requests; what it cached stays in the tree as
 * ordinary repositories.
 *
 *     struct runtime *runtime;
 *     if (runtime_build(&config, previous, &runtime, changes, sizeof changes) == 0)
 *         runtime_publish(runtime);            // takes the reference
 *     ...
 *     struct runtime *mine = runtime_current(); // a new reference
 *     runtime_release(mine);
 */
#ifndef CAIRN_SRC_CONFIG_RUNTIME_H
#define CAIRN_SRC_CONFIG_RUNTIME_H

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stddef.h>

#include "src/config/config.h"

struct access_rules;
struct htpasswd;
struct upstream;
struct token_verifier;

struct runtime {
    atomic_ulong references;
    unsigned long generation;
    struct config config;
    SSL_CTX *tls_context;                  /* NULL without TLS */
    struct htpasswd *htpasswd;             /* NULL without auth.htpasswd */
    struct token_verifier *token_verifier; /* NULL without auth.token */
    struct access_rules *access_rules;     /* NULL without cairn.access rules */
    /* One client per config.mirrors[i] (same order), built with the
     * snapshot: mirrors reload live. Work that calls them holds a reference
     * to the snapshot. */
    struct upstream **upstreams;
    size_t upstream_count;
};

/* Builds a snapshot from `config` (whose contents it takes over: the caller
 * must not release it afterwards, on success or failure). With `previous`,
 * settings that need a restart keep previous's values, and `changes` gets a
 * one-line summary of what changed ("auth.htpasswd.path, http.tls.certificate;
 * needs restart (kept): http.addr"). */
int runtime_build(struct config *config, const struct runtime *previous, struct runtime **out,
                  char *changes, size_t changes_size);

/* Loads everything `config` names (TLS certificate and key, client CAs,
 * htpasswd file, token keys and certificate bundles, access rules, S3
 * settings) exactly as runtime_build does, then frees it: 0 when the server
 * would start with `config`, else its error and message. */
int runtime_check(const struct config *config);

/* config_load(path) followed by runtime_check(): what `cairn --check-config`,
 * `cairn-gc --config` and `cairn-fsck --config` validate a file with. On
 * success `*config` holds the loaded configuration (config_release() it);
 * on failure it is not touched and needs no release. */
int runtime_check_file(const char *path, struct config *config);

void runtime_acquire(struct runtime *runtime);
void runtime_release(struct runtime *runtime);

/* Makes `runtime` the current snapshot (taking over the caller's reference). */
void runtime_publish(struct runtime *runtime);

/* Calls hook(runtime, context) with each snapshot published from now on
 * (under the publishing lock, before the snapshot becomes current): how
 * long-lived objects outside the snapshot, like the S3 store's credentials,
 * follow a reload. NULL removes it. */
void runtime_set_publish_hook(void (*hook)(const struct runtime *runtime, void *context),
                              void *context);
/* A new reference to the current snapshot (NULL before the first publish). */
struct runtime *runtime_current(void);
/* The generation of the current snapshot: cheap, for "has it changed?". */
unsigned long runtime_current_generation(void);

#endif
