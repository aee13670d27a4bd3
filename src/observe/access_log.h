/*
 * src/observe/access_log.h — one line per request (the access log), the server's own
 * messages (log_message), and request ids. Everything goes to stderr, which
 * systemd hands to the journal.
 *
 * Lines are built in a bounded buffer and written with a single write(2)
 * (event-loop threads put a turn's lines into one write: "Batching" below), so
 * two threads never interleave within a line (a pipe guarantees it up to
 * PIPE_BUF = 4096 bytes, the journal's stream socket for whole writes in
 * practice). Every field is escaped, so one request is always one line and
 * nothing a client sends can forge a field or another line:
 *
 *   text  2026-11-25T12:00:00.123Z req=3f2a0c9d1e4b5a67 remote=127.0.0.1 user=alice
 *         "GET /v2/x/manifests/latest" 200 in=0 out=1234 dur=1.234ms
 *         (and, for a mirrored repository, cache=hit|checked|fetched|joined|
 *         stale|failed after dur)
 *         (one line; inside quotes `"` and `\` are backslash-escaped, \n \r \t
 *         written as such, other control bytes and invalid UTF-8 as \xHH;
 *         valid UTF-8 is kept. A field outside quotes that is empty or holds a
 *         space, quote, backslash, control or non-ASCII byte is quoted the same
 *         way. An absent user or remote is "-".)
 *   json  {"time":"2026-11-25T12:00:00.123Z","level":"info","msg":"request",
 *          "request_id":"3f2a0c9d1e4b5a67","remote":"127.0.0.1","user":"alice",
 *          "method":"GET","path":"/v2/x/manifests/latest","status":200,
 *          "bytes_in":0,"bytes_out":1234,"duration_ms":1.234}
 *         (and "cache":"hit" and so on for a mirrored repository)
 *         (RFC 8259 escapes; invalid UTF-8 becomes U+FFFD; absent user null)
 *
 * The path is logged raw (with its query, as the client sent it), cut at
 * ACCESS_LOG_PATH_MAX bytes on a character boundary with "..." appended.
 * There is no field for headers: Authorization and cookies are never logged.
 *
 * log_message() is the server's own logger: `2026-...Z level=warn msg="..."`
 * or {"time":...,"level":"warn","msg":"..."}, filtered by the process-wide
 * level. log_configure() changes level and format together, atomically, and
 * may be called at any time (on reload) from any thread.
 *
 *     log_configure(config->log_level, config->log_format);
 *     log_message(LOG_LEVEL_INFO, "listening on %s", address);
 *
 *     char id[REQUEST_ID_SIZE];
 *     request_id_generate(id);                // when the request arrives
 *     struct access_log_entry entry = {.time = arrival, .request_id = id, ...};
 *     if (config->access_log)
 *         access_log_write(config->log_format, &entry);   // when it is done
 */
#ifndef CAIRN_SRC_OBSERVE_ACCESS_LOG_H
#define CAIRN_SRC_OBSERVE_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The levels of log_message(), most severe first (log.level), and the two
 * line formats (log.formatter). The configuration (src/config/config.h)
 * holds them; this module defines them, since it is what they mean. */
enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Longest line either logger writes, newline included; every line fits. */
#define ACCESS_LOG_LINE_MAX 16384
/* Raw path bytes kept before "..." (2 KiB). */
#define ACCESS_LOG_PATH_MAX 2048
/* Message bytes log_message() keeps before "...". */
#define LOG_MESSAGE_MAX 2048
/* 16 hex digits and the NUL. */
#define REQUEST_ID_SIZE 17

struct access_log_entry {
    struct timespec time;       /* CLOCK_REALTIME, the request's arrival; {0, 0}: now */
    const char *request_id;     /* NUL-terminated; NULL: "-" */
    const char *remote_address; /* "192.0.2.1", "::1"; NULL: "-" */
    const char *user;           /* authenticated identity; NULL: anonymous */
    const char *method;         /* not NUL-terminated (h2o's iovec) */
    size_t method_length;
    const char *path; /* raw request target, query included; not NUL-terminated */
    size_t path_length;
    int status;
    uint64_t bytes_in;       /* request body bytes */
    uint64_t bytes_out;      /* response body bytes */
    double duration_seconds; /* arrival to response done */
    const char *cache;       /* a mirrored repository's: what serving it took ("hit": from
                              * the cache alone, metrics.h); NULL: no field */
};

/* Formats one access-log line, newline included, NUL-terminated, into
 * `buffer`. Returns its length (without the NUL), or -ENOSPC with
 * error_set() when `size` is too small (ACCESS_LOG_LINE_MAX never is). */
int access_log_format(enum log_format format, const struct access_log_entry *entry, char *buffer,
                      size_t size);

/* Formats the line and writes it to the log descriptor (stderr) in one
 * write(2) — or, on a thread that batches, appends it to the batch. 0, or a
 * negative errno with error_set(). */
int access_log_write(enum log_format format, const struct access_log_entry *entry);

/*
 * Batching, for event-loop threads that answer many requests per turn of
 * their loop: after access_log_batch_start(), this thread's access-log lines
 * collect in a buffer of ACCESS_LOG_BATCH_MAX bytes (PIPE_BUF: a batch is as
 * indivisible on a pipe as one line) and go out in one write(2) when the
 * next line would not fit, when the thread logs a log_message() line (so a
 * thread's lines keep their order), and at access_log_flush(), which the
 * loop calls after every turn. A line never straddles two writes; a line
 * longer than the buffer is written alone. What a batch holds when the
 * process is killed is lost: at most one turn's lines.
 *
 *     access_log_batch_start();
 *     for (;;) { h2o_evloop_run(loop, 100); access_log_flush(); }
 */
#define ACCESS_LOG_BATCH_MAX 4096
void access_log_batch_start(void);
/* Writes out this thread's batch; 0 (also with nothing to write), or a
 * negative errno with error_set() (the batch is dropped). */
int access_log_flush(void);

/* A fresh request id: 16 lowercase hex digits (64 random bits) and a NUL.
 * A per-thread generator seeded from getrandom(2): no lock, no syscall after
 * the first id of a thread. Not a secret: only unique in practice. */
void request_id_generate(char out[REQUEST_ID_SIZE]);

/* Sets the level and format of log_message() (and what log_format_current()
 * answers) together, atomically. Defaults: LOG_LEVEL_INFO, LOG_FORMAT_TEXT. */
void log_configure(enum log_level level, enum log_format format);
enum log_level log_level_current(void);
enum log_format log_format_current(void);

/* Whether log_message(level, ...) would write anything: lets a caller skip
 * preparing expensive arguments. */
int log_enabled(enum log_level level);

/* One line of the server's own log, when `level` is enabled. The message is
 * escaped (a newline in it stays on the same line) and cut at
 * LOG_MESSAGE_MAX bytes. Never fails the caller: a write error is dropped. */
void log_message(enum log_level level, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Formats a log_message() line (for tests and for callers that write
 * elsewhere). Same return as access_log_format(). */
int log_format_line(enum log_format format, enum log_level level, const struct timespec *time,
                    const char *message, char *buffer, size_t size);

/* Where both loggers write (default 2, stderr); returns the previous one.
 * For tests; the server keeps stderr. */
int log_set_descriptor(int descriptor);

#endif
