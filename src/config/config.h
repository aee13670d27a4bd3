/*
 * src/config/config.h — the configuration file: YAML in Distribution's shape, plus
 * cairn's own `cairn:` section.
 *
 * config_load() builds a complete `struct config` from a file, or fails with
 * the line and the reason in error_message() ("config.yml:12: http.addr: ...").
 * Nothing is half-applied: the caller either gets a whole valid configuration
 * or keeps the one it had (this is what makes hot reload safe).
 *
 * Keys shared with Distribution's config.yml keep their names and meaning;
 * Distribution keys cairn does not use are accepted and listed in
 * `config->warnings` (one line each) so the caller can log them; an unknown
 * key under `cairn:` or `notifications:` is an error. Durations are written
 * as in Distribution ("90s", "15m", "168h", "1h30m"); sizes as a number of
 * bytes or with a unit ("512MiB", "16GiB"). Every field has a default (config_defaults()), which
 * is what cairn runs with when there is no file at all (src/config/defaults.h).
 *
 * This is the one YAML reader (libyaml, private to this file): the server,
 * `--check-config` and the tools read a file only through config_load().
 * Sections that belong to a lower module are read into that module's plain
 * struct: storage.s3 into drivers/s3_config.h's (which resolves credentials
 * and the endpoint), cairn.access and cairn.groups into src/auth's
 * access_rules.h specs, log.level and log.formatter as src/observe's
 * access_log.h enums, notifications: and cairn.events into src/observe's
 * event_settings.h. Those modules never include this header.
 *
 * Dependencies point one way, within src/config too: config.h (the file and
 * its value grammars: durations, sizes, addresses) uses only layout/,
 * drivers/, src/observe and src/auth headers; tls_context and runtime build
 * what a config names; options (the command line) uses config and runtime;
 * reload uses all of them. Nothing here includes options.h or reload.h.
 *
 *     struct config config;
 *     if (config_load(path, &config) < 0) {
 *         fprintf(stderr, "%s\n", error_message());   // line and reason
 *     } else { ... config_release(&config); }
 */
#ifndef CAIRN_SRC_CONFIG_CONFIG_H
#define CAIRN_SRC_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "drivers/s3_client.h"
#include "drivers/upstream.h"
#include "layout/tree.h"
#include "src/auth/access_rules.h"
#include "src/auth/login_limiter.h"
#include "src/config/defaults.h"
#include "src/observe/access_log.h"
#include "src/observe/event_settings.h"

struct config {
    char *source_path; /* the file it came from, or NULL for defaults */

    /* log */
    enum log_level log_level;   /* log.level: error|warn|info|debug (default info) */
    enum log_format log_format; /* log.formatter: text|json (default text) */
    int access_log;             /* log.accesslog.disabled: false -> 1 (default on) */

    /* storage */
    char root_directory[TREE_PATH_MAX];       /* storage.filesystem.rootdirectory (./data) */
    int delete_enabled;                       /* storage.delete.enabled (true) */
    int upload_purging_enabled;               /* storage.maintenance.uploadpurging.enabled (true) */
    uint64_t upload_purging_age_seconds;      /* .age (168h) */
    uint64_t upload_purging_interval_seconds; /* .interval (24h) */
    int read_only;                            /* storage.maintenance.readonly.enabled (false) */
    int s3_enabled;                           /* storage.s3 present: blobs in a bucket */
    struct s3_settings s3;                    /* storage.s3 (drivers/s3_config.h) */
    int redirect_disabled;                    /* storage.redirect.disable (false) */

    /* http */
    char listen_address[300]; /* http.addr ("127.0.0.1:5000") */
    char *tls_certificate;    /* http.tls.certificate (PEM chain), NULL: no TLS */
    char *tls_key;            /* http.tls.key */
    char **tls_client_cas;    /* http.tls.clientcas: mTLS when non-empty */
    size_t tls_client_ca_count;
    int tls_minimum_version; /* http.tls.minimumtls: tls1.2 (default) or tls1.3 -> 0x0303/0x0304 */
    char *tls_cipher_list;   /* http.tls.ciphersuites as OpenSSL's TLS 1.2 cipher list; NULL: the
                              * default (CONFIG_DEFAULT_TLS12_CIPHER_LIST); "": only TLS 1.3 names
                              * were listed, so TLS 1.2 has no suite */
    char debug_address[300]; /* http.debug.addr: separate listener for /metrics, "" = main */
    uint64_t idle_timeout_seconds;      /* http.idle_timeout (30s): keep-alive idle */
    uint64_t header_timeout_seconds;    /* http.header_timeout (20s): first byte to whole header */
    uint64_t http2_reset_block_seconds; /* http.http2_reset_block (30s; 0: off) */
    unsigned max_connections;           /* http.max_connections; 0: from RLIMIT_NOFILE */

    /* auth (at most one of htpasswd and token) */
    char *htpasswd_realm;                /* auth.htpasswd.realm */
    char *htpasswd_path;                 /* auth.htpasswd.path */
    char *token_realm;                   /* auth.token.realm */
    char *token_service;                 /* auth.token.service */
    char *token_issuer;                  /* auth.token.issuer */
    char *token_root_certificate_bundle; /* auth.token.rootcertbundle */
    char *token_jwks;                    /* auth.token.jwks */

    /* cairn's own */
    unsigned threads;                 /* cairn.threads (cores) */
    unsigned workers;                 /* cairn.workers (4) */
    unsigned login_workers;           /* cairn.login_workers (2) */
    unsigned login_queue;             /* cairn.login_queue (32) */
    uint64_t max_body_size;           /* cairn.max_body_size (16GiB) */
    char *body_temporary_directory;   /* cairn.body_temporary_directory (<root>/.cairn-tmp) */
    uint64_t request_timeout_seconds; /* cairn.request_timeout (15m) */
    uint64_t shutdown_grace_seconds;  /* cairn.shutdown_grace (30s) */
    int anonymous_pull;               /* cairn.anonymous_pull (false) */
    int automatic_mount;              /* cairn.automatic_mount (true): ?mount= without from */
    struct access_group_spec *groups; /* cairn.groups: {name: [users]} */
    size_t group_count;
    struct access_rule_spec *access_rules; /* cairn.access: ordered */
    size_t access_rule_count;
    /* cairn.login_limits (on: 10 failures an address, 10 a name, in 5m) */
    struct login_limit_settings login_limits;
    /* cairn.mirrors[] and Distribution's proxy: (prefix "", the whole
     * registry), in the file's order; prefixes never overlap, but proxy's
     * "" holds every name another mirror does not (docs/mirror.md) */
    struct upstream_settings *mirrors;
    size_t mirror_count;
    /* Distribution's notifications: (events.includereferences, endpoints[])
     * and cairn.events (spool, max_bytes 1GiB, max_age 168h): webhooks,
     * src/observe/event_settings.h; no endpoints, no events */
    struct event_settings events;

    char **warnings; /* lines to log: unused Distribution keys */
    size_t warning_count;
};

/* The built-in configuration (no file). */
void config_defaults(struct config *config);

/* Loads and validates `path` over the defaults. 0, or -EINVAL with
 * "<path>:<line>: <key>: <reason>" in error_message() (a negated errno such
 * as -ENOENT when the file cannot be read, -ENOMEM); the struct needs no
 * release after a failure, and `*config` is not touched then. Relative paths
 * in the file (htpasswd, certificates) are kept as written. */
int config_load(const char *path, struct config *config);

/* Frees what config_load() or config_defaults() allocated. */
void config_release(struct config *config);

/* Parses "90s", "1h30m", "168h", "1.5h" (Go's time.ParseDuration syntax, as
 * Distribution). Whole seconds only: "500ms" or "1.5s" is -EINVAL, as is a
 * negative duration or a number without a unit (but "0"). -EINVAL. */
int config_parse_duration(const char *text, uint64_t *seconds_out);
/* The same syntax kept to the millisecond, as Distribution reads
 * notifications.endpoints[].timeout and .backoff: "500ms", "1.5s", "2s",
 * "1m30s", "0". A part of a millisecond is rounded up to a whole one ("1us"
 * is 1). A negative duration is -EINVAL, and so is a number without a unit
 * other than "0" (Go would read it as nanoseconds; the message asks for a
 * unit). */
int config_parse_duration_milliseconds(const char *text, uint64_t *milliseconds_out);
/* Parses "1024", "512MiB", "16GiB", "2GB": bytes, or an integer with a unit
 * (B; KB/kB, MB, GB, TB powers of 1000; KiB, MiB, GiB, TiB powers of 1024),
 * one optional space before it. At most 2^63 - 1. -EINVAL. */
int config_parse_size(const char *text, uint64_t *bytes_out);

/* Splits an address as http.addr, http.debug.addr and --listen write it,
 * "HOST:PORT", "[IPv6]:PORT" or ":PORT" (every address) into `host`
 * ("" for every address, brackets removed) and `port` (1 to 65535, digits).
 * -EINVAL with a message (error_message()) when it is not one of those or
 * does not fit. */
int config_split_address(const char *address, char *host, size_t host_size, char *port,
                         size_t port_size);

#endif
