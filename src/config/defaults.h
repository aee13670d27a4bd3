/*
 * src/config/defaults.h — every built-in default of the configuration, each
 * defined once: what cairn runs with for a key the file does not set (or
 * with no file at all), what the help texts print, and what the tools fall
 * back on. config_defaults() (config.h) fills a `struct config` from these;
 * `cairn --help` and `cairn-gc --help` print them; messages that name a
 * default use the same macro. The S3 driver's own defaults (part size,
 * timeouts, attempts, presign expiry) are the driver's:
 * drivers/s3_client.h S3_DEFAULT_*.
 *
 * Durations are in seconds (in milliseconds where the name says so), sizes
 * in bytes. Plain macros, no dependencies:
 * any module of src/config, src/http or tools/ may include this.
 */
#ifndef CAIRN_SRC_CONFIG_DEFAULTS_H
#define CAIRN_SRC_CONFIG_DEFAULTS_H

/* storage.filesystem.rootdirectory */
#define CONFIG_DEFAULT_ROOT_DIRECTORY "./data"
/* Distribution's default root, only ever named in a warning: a file written
 * for Distribution that omits the key gets cairn's default instead. */
#define DISTRIBUTION_DEFAULT_ROOT_DIRECTORY "/var/lib/registry"
/* storage.maintenance.uploadpurging.age and .interval; the age is also
 * cairn-gc's --uploads-older-than default */
#define CONFIG_DEFAULT_UPLOAD_PURGING_AGE_SECONDS (168 * 3600)
#define CONFIG_DEFAULT_UPLOAD_PURGING_INTERVAL_SECONDS (24 * 3600)
/* The same two as written in the help texts and docs. */
#define CONFIG_DEFAULT_UPLOAD_PURGING_AGE_TEXT "168h"
#define CONFIG_DEFAULT_UPLOAD_PURGING_INTERVAL_TEXT "24h"

/* http.addr (and --listen) */
#define CONFIG_DEFAULT_LISTEN_ADDRESS "127.0.0.1:5000"
/* http.tls.minimumtls: TLS 1.2 (OpenSSL's TLS1_2_VERSION) */
#define CONFIG_DEFAULT_TLS_MINIMUM_VERSION 0x0303
/* http.tls.ciphersuites: what TLS 1.2 offers when the key is absent, Mozilla's
 * "intermediate" profile (ECDHE key exchange, AEAD ciphers; DHE left out), in
 * OpenSSL's names and the server's order of preference. TLS 1.3 keeps
 * OpenSSL's default suites, which are not configurable. */
#define CONFIG_DEFAULT_TLS12_CIPHER_LIST                                                           \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* auth.htpasswd.realm */
#define CONFIG_DEFAULT_HTPASSWD_REALM "cairn"

/* cairn.threads is one event loop per core (at most CONFIG_THREADS_MAX). */
#define CONFIG_THREADS_MAX 1024
/* cairn.workers (at most CONFIG_WORKERS_MAX) */
#define CONFIG_WORKERS_MAX 1024
#define CONFIG_DEFAULT_WORKERS 4
/* cairn.login_workers: threads of their own for password checks (bcrypt),
 * so that uploads and manifest PUTs never wait behind logins */
#define CONFIG_DEFAULT_LOGIN_WORKERS 2
/* cairn.login_queue: checks waiting for a login worker; beyond it, 503 at once */
#define CONFIG_DEFAULT_LOGIN_QUEUE 32
/* cairn.login_limits (src/auth/login_limiter.h): failed logins before an
 * address is locked, before a name is under attack, and the window */
#define CONFIG_DEFAULT_LOGIN_ADDRESS_FAILURES 10
#define CONFIG_DEFAULT_LOGIN_USER_FAILURES 10
#define CONFIG_DEFAULT_LOGIN_WINDOW_SECONDS (5 * 60)
/* Keys each table of the login limiter holds (fixed memory) */
#define CONFIG_LOGIN_LIMITER_CAPACITY 4096
/* cairn.max_body_size: 16 GiB */
#define CONFIG_DEFAULT_MAX_BODY_SIZE (16ULL << 30)
/* cairn.request_timeout: 15 minutes */
#define CONFIG_DEFAULT_REQUEST_TIMEOUT_SECONDS (15 * 60)
/* http.idle_timeout: a keep-alive connection with no request for this long
 * is closed (src/http/connections.h) */
#define CONFIG_DEFAULT_IDLE_TIMEOUT_SECONDS 30
/* http.header_timeout: from a request's first byte to the end of its header */
#define CONFIG_DEFAULT_HEADER_TIMEOUT_SECONDS 20
/* http.max_connections: the largest value accepted (the limit it gets is
 * also bounded by RLIMIT_NOFILE; 0, the default, derives it from there) */
#define CONFIG_MAX_CONNECTIONS_MAX (1u << 20)
/* cairn.shutdown_grace */
#define CONFIG_DEFAULT_SHUTDOWN_GRACE_SECONDS 30
/* cairn.mirrors[].ttl: how long a tag fetched from an upstream is served
 * from the tree before one HEAD upstream checks it again (docs/mirror.md).
 * Short enough that a moved tag (a rebuilt :latest) shows within minutes;
 * long enough that a CI burst pulling the same image makes one check. */
#define CONFIG_DEFAULT_MIRROR_TTL_SECONDS (5 * 60)
#define CONFIG_DEFAULT_MIRROR_TTL_TEXT "5m"
/* cairn.mirrors[].evict_after (and Distribution's proxy.ttl): cairn-gc
 * removes a mirrored manifest nobody pulled for this long (docs/mirror.md).
 * Distribution's proxy.ttl default: a week covers a weekly build. */
#define CONFIG_DEFAULT_MIRROR_EVICT_AFTER_SECONDS (168 * 3600)
#define CONFIG_DEFAULT_MIRROR_EVICT_AFTER_TEXT "168h"
/* HTTP/2 streams a client may reset on one connection (fixed, no key;
 * src/http/http2_reset_guard.h): a burst of 200, refilled at 100 a second.
 * A browser or docker cancels a few dozen at once; a rapid-reset attack
 * sends hundreds of thousands. */
#define CONFIG_HTTP2_RESET_BURST 200
#define CONFIG_HTTP2_RESET_RATE 100
/* http.http2_reset_block: an address whose connections were closed for
 * rapid resets 3 times in a minute is refused new connections this long
 * (src/http/address_block.h); 0 turns it off */
#define CONFIG_DEFAULT_HTTP2_RESET_BLOCK_SECONDS 30

/* notifications.endpoints[].timeout: one delivery attempt (Distribution's 1s) */
#define CONFIG_DEFAULT_EVENT_TIMEOUT_MILLISECONDS 1000
/* notifications.endpoints[].threshold: failures in a row before backing off (Distribution's 10) */
#define CONFIG_DEFAULT_EVENT_THRESHOLD 10
/* notifications.endpoints[].backoff: the wait after `threshold` failures (Distribution's 1s) */
#define CONFIG_DEFAULT_EVENT_BACKOFF_MILLISECONDS 1000
/* cairn.events.max_bytes: undelivered events kept per endpoint, 1 GiB */
#define CONFIG_DEFAULT_EVENT_SPOOL_MAX_BYTES (1ULL << 30)
/* cairn.events.max_age: an undelivered event older than this (168h) is dropped */
#define CONFIG_DEFAULT_EVENT_SPOOL_MAX_AGE_SECONDS (168 * 3600)

#endif
