/* src/observe/access_log.c — bounded, escaped log lines written with one write(2). */
#include "src/observe/access_log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "layout/error.h"

/* Caps on the fields the caller fills from the request (before escaping):
 * with the worst escaping (6 bytes per input byte in JSON) a line stays
 * below ACCESS_LOG_LINE_MAX. */
#define FIELD_SHORT_MAX 64 /* request id, remote address, method */
#define FIELD_USER_MAX 256

enum escape_mode {
    ESCAPE_TEXT, /* inside "..." of a text line */
    ESCAPE_JSON, /* inside "..." of a JSON string */
};

/* A line being built in a caller's buffer; `overflow` once anything did not
 * fit (the line is then refused, never cut silently). */
struct line {
    char *data;
    size_t capacity; /* bytes usable, the NUL excluded */
    size_t length;
    int overflow;
};

static void put(struct line *line, const char *text, size_t length)
{
    if (line->overflow || length > line->capacity - line->length) {
        line->overflow = 1;
        return;
    }
    memcpy(line->data + line->length, text, length);
    line->length += length;
}

static void put_string(struct line *line, const char *text)
{
    put(line, text, strlen(text));
}

static void put_format(struct line *line, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void put_format(struct line *line, const char *format, ...)
{
    char text[96];
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    if (length < 0 || (size_t)length >= sizeof text) {
        line->overflow = 1;
        return;
    }
    put(line, text, (size_t)length);
}

/* Decimal digits of `value` (no printf: this runs once per request). */
static void put_unsigned(struct line *line, uint64_t value)
{
    char digits[20];
    size_t count = 0;
    do {
        digits[sizeof digits - 1 - count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value > 0);
    put(line, digits + sizeof digits - count, count);
}

static void put_signed(struct line *line, long long value)
{
    if (value < 0) {
        put(line, "-", 1);
        put_unsigned(line, (uint64_t)0 - (uint64_t)value);
    } else {
        put_unsigned(line, (uint64_t)value);
    }
}

/* `thousandths` / 1000 with exactly three decimals, as "%.3f" shows it. */
static void put_thousandths(struct line *line, uint64_t thousandths)
{
    put_unsigned(line, thousandths / 1000);
    char decimals[4] = {'.', (char)('0' + thousandths / 100 % 10),
                        (char)('0' + thousandths / 10 % 10), (char)('0' + thousandths % 10)};
    put(line, decimals, sizeof decimals);
}

/* Length of the valid UTF-8 sequence that starts `text`, or 0 (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_sequence_length(const unsigned char *text, size_t available)
{
    unsigned char first = text[0];
    size_t length;
    if (first < 0x80)
        return 1;
    if (first >= 0xC2 && first <= 0xDF)
        length = 2;
    else if (first >= 0xE0 && first <= 0xEF)
        length = 3;
    else if (first >= 0xF0 && first <= 0xF4)
        length = 4;
    else
        return 0;
    if (available < length)
        return 0;
    for (size_t i = 1; i < length; i++)
        if ((text[i] & 0xC0) != 0x80)
            return 0;
    if ((first == 0xE0 && text[1] < 0xA0) || (first == 0xED && text[1] >= 0xA0) ||
        (first == 0xF0 && text[1] < 0x90) || (first == 0xF4 && text[1] >= 0x90))
        return 0;
    return length;
}

/* Appends `text` escaped for `mode` (without the surrounding quotes). More
 * than `limit` bytes are cut on a character boundary and "..." appended. */
static void put_escaped(struct line *line, const char *text, size_t length, size_t limit,
                        enum escape_mode mode)
{
    const unsigned char *bytes = (const unsigned char *)text;
    int truncated = 0;
    if (length > limit) {
        length = limit;
        /* Do not keep the start of a character whose end is cut off. */
        for (int back = 0; back < 3 && length > 0 && (bytes[length] & 0xC0) == 0x80; back++)
            length--;
        truncated = 1;
    }
    size_t i = 0;
    while (i < length && !line->overflow) {
        unsigned char byte = bytes[i];
        if (byte >= 0x20 && byte < 0x7f && byte != '"' && byte != '\\') {
            size_t run = i + 1; /* copy plain ASCII runs at once */
            while (run < length && bytes[run] >= 0x20 && bytes[run] < 0x7f && bytes[run] != '"' &&
                   bytes[run] != '\\')
                run++;
            put(line, text + i, run - i);
            i = run;
            continue;
        }
        if (byte == '"' || byte == '\\') {
            char escaped[2] = {'\\', (char)byte};
            put(line, escaped, 2);
        } else if (byte == '\n') {
            put(line, "\\n", 2);
        } else if (byte == '\r') {
            put(line, "\\r", 2);
        } else if (byte == '\t') {
            put(line, "\\t", 2);
        } else if (byte < 0x20 || byte == 0x7f) {
            if (mode == ESCAPE_JSON)
                put_format(line, "\\u%04x", byte);
            else
                put_format(line, "\\x%02x", byte);
        } else {
            size_t sequence = utf8_sequence_length(bytes + i, length - i);
            if (sequence > 0) {
                put(line, text + i, sequence);
                i += sequence;
                continue;
            }
            if (mode == ESCAPE_JSON)
                put(line, "\\ufffd", 6);
            else
                put_format(line, "\\x%02x", byte);
        }
        i++;
    }
    if (truncated)
        put(line, "...", 3);
}

static void put_json_string(struct line *line, const char *text, size_t length, size_t limit)
{
    put(line, "\"", 1);
    put_escaped(line, text, length, limit, ESCAPE_JSON);
    put(line, "\"", 1);
}

/* A text field outside quotes: as is when it is a plain token, else quoted. */
static void put_text_token(struct line *line, const char *text, size_t limit)
{
    if (text == NULL) {
        put(line, "-", 1);
        return;
    }
    size_t length = strlen(text);
    int plain = length > 0 && length <= limit;
    for (size_t i = 0; plain && i < length; i++) {
        unsigned char byte = (unsigned char)text[i];
        plain = byte > 0x20 && byte < 0x7f && byte != '"' && byte != '\\';
    }
    if (plain) {
        put(line, text, length);
        return;
    }
    put(line, "\"", 1);
    put_escaped(line, text, length, limit, ESCAPE_TEXT);
    put(line, "\"", 1);
}

/* "2026-11-25T12:00:00.123Z". The text up to the seconds is formatted once
 * a second per thread (gmtime and strftime cost more than the rest of the
 * line). */
static void put_time(struct line *line, const struct timespec *time)
{
    static _Thread_local time_t cached_second = (time_t)-1;
    static _Thread_local char cached_text[32];
    static _Thread_local size_t cached_length;
    struct timespec now = *time;
    if (now.tv_sec == 0 && now.tv_nsec == 0)
        clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec != cached_second) {
        struct tm broken;
        size_t length = 0;
        if (gmtime_r(&now.tv_sec, &broken) != NULL)
            length = strftime(cached_text, sizeof cached_text, "%Y-%m-%dT%H:%M:%S", &broken);
        if (length == 0) {
            put(line, "1970-01-01T00:00:00.000Z", 24);
            return;
        }
        cached_second = now.tv_sec;
        cached_length = length;
    }
    put(line, cached_text, cached_length);
    long milliseconds = now.tv_nsec / 1000000;
    if (milliseconds < 0 || milliseconds > 999)
        milliseconds = 0;
    char fraction[5] = {'.', (char)('0' + milliseconds / 100), (char)('0' + milliseconds / 10 % 10),
                        (char)('0' + milliseconds % 10), 'Z'};
    put(line, fraction, sizeof fraction);
}

static const char *level_name(enum log_level level)
{
    switch (level) {
    case LOG_LEVEL_ERROR:
        return "error";
    case LOG_LEVEL_WARN:
        return "warn";
    case LOG_LEVEL_INFO:
        return "info";
    case LOG_LEVEL_DEBUG:
        return "debug";
    }
    return "info";
}

/* Ends the line: its length, or -ENOSPC (no error_set(): log_message()
 * must not replace the thread's message). */
static int line_finish(struct line *line)
{
    put(line, "\n", 1);
    if (line->overflow) {
        line->data[0] = '\0';
        return -ENOSPC;
    }
    line->data[line->length] = '\0';
    return (int)line->length;
}

static int too_small(size_t size)
{
    return error_set(-ENOSPC, "log line longer than its %zu-byte buffer", size);
}

int access_log_format(enum log_format format, const struct access_log_entry *entry, char *buffer,
                      size_t size)
{
    if (buffer == NULL || size == 0)
        return error_set(-ENOSPC, "log line: no buffer");
    struct line line = {buffer, size - 1, 0, 0};
    double microseconds = entry->duration_seconds * 1e6;
    if (!(microseconds >= 0))
        microseconds = 0;
    if (microseconds > 1e15)
        microseconds = 1e15;
    /* the duration in milliseconds with three decimals (cut, not rounded) */
    uint64_t thousandths = (uint64_t)microseconds;
    const char *method = entry->method != NULL ? entry->method : "";
    size_t method_length = entry->method != NULL ? entry->method_length : 0;
    const char *path = entry->path != NULL ? entry->path : "";
    size_t path_length = entry->path != NULL ? entry->path_length : 0;

    if (format == LOG_FORMAT_JSON) {
        put(&line, "{\"time\":\"", 9);
        put_time(&line, &entry->time);
        put_string(&line, "\",\"level\":\"info\",\"msg\":\"request\",\"request_id\":");
        const char *id = entry->request_id != NULL ? entry->request_id : "-";
        put_json_string(&line, id, strlen(id), FIELD_SHORT_MAX);
        put_string(&line, ",\"remote\":");
        const char *remote = entry->remote_address != NULL ? entry->remote_address : "-";
        put_json_string(&line, remote, strlen(remote), FIELD_SHORT_MAX);
        put_string(&line, ",\"user\":");
        if (entry->user != NULL)
            put_json_string(&line, entry->user, strlen(entry->user), FIELD_USER_MAX);
        else
            put_string(&line, "null");
        put_string(&line, ",\"method\":");
        put_json_string(&line, method, method_length, FIELD_SHORT_MAX);
        put_string(&line, ",\"path\":");
        put_json_string(&line, path, path_length, ACCESS_LOG_PATH_MAX);
        put_string(&line, ",\"status\":");
        put_signed(&line, entry->status);
        put_string(&line, ",\"bytes_in\":");
        put_unsigned(&line, entry->bytes_in);
        put_string(&line, ",\"bytes_out\":");
        put_unsigned(&line, entry->bytes_out);
        put_string(&line, ",\"duration_ms\":");
        put_thousandths(&line, thousandths);
        if (entry->cache != NULL) {
            put_string(&line, ",\"cache\":");
            put_json_string(&line, entry->cache, strlen(entry->cache), FIELD_SHORT_MAX);
        }
        put(&line, "}", 1);
    } else {
        put_time(&line, &entry->time);
        put_string(&line, " req=");
        put_text_token(&line, entry->request_id, FIELD_SHORT_MAX);
        put_string(&line, " remote=");
        put_text_token(&line, entry->remote_address, FIELD_SHORT_MAX);
        put_string(&line, " user=");
        put_text_token(&line, entry->user, FIELD_USER_MAX);
        put_string(&line, " \"");
        put_escaped(&line, method, method_length, FIELD_SHORT_MAX, ESCAPE_TEXT);
        put(&line, " ", 1);
        put_escaped(&line, path, path_length, ACCESS_LOG_PATH_MAX, ESCAPE_TEXT);
        put(&line, "\" ", 2);
        put_signed(&line, entry->status);
        put_string(&line, " in=");
        put_unsigned(&line, entry->bytes_in);
        put_string(&line, " out=");
        put_unsigned(&line, entry->bytes_out);
        put_string(&line, " dur=");
        put_thousandths(&line, thousandths);
        put(&line, "ms", 2);
        if (entry->cache != NULL) {
            put_string(&line, " cache=");
            put_text_token(&line, entry->cache, FIELD_SHORT_MAX);
        }
    }
    int length = line_finish(&line);
    return length < 0 ? too_small(size) : length;
}

static atomic_int log_descriptor = 2;

int log_set_descriptor(int descriptor)
{
    return atomic_exchange(&log_descriptor, descriptor);
}

/* 0 or -errno, without error_set() (see line_finish). */
static int write_all(const char *data, size_t length)
{
    int descriptor = atomic_load_explicit(&log_descriptor, memory_order_relaxed);
    while (length > 0) {
        ssize_t written = write(descriptor, data, length);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        data += written;
        length -= (size_t)written;
    }
    return 0;
}

/* This thread's batch (access_log_batch_start); unused elsewhere. */
static _Thread_local struct {
    int enabled;
    size_t length;
    char bytes[ACCESS_LOG_BATCH_MAX];
} batch;

void access_log_batch_start(void)
{
    batch.enabled = 1;
}

int access_log_flush(void)
{
    if (batch.length == 0)
        return 0;
    int result = write_all(batch.bytes, batch.length);
    batch.length = 0;
    if (result < 0)
        return error_set(result, "cannot write the access log: %s", strerror(-result));
    return 0;
}

int access_log_write(enum log_format format, const struct access_log_entry *entry)
{
    char buffer[ACCESS_LOG_LINE_MAX];
    int length = access_log_format(format, entry, buffer, sizeof buffer);
    if (length < 0)
        return length;
    if (batch.enabled) {
        if (batch.length + (size_t)length > sizeof batch.bytes) {
            int result = access_log_flush();
            if (result < 0)
                return result;
        }
        if ((size_t)length <= sizeof batch.bytes) {
            memcpy(batch.bytes + batch.length, buffer, (size_t)length);
            batch.length += (size_t)length;
            return 0;
        }
    }
    int result = write_all(buffer, (size_t)length);
    if (result < 0)
        return error_set(result, "cannot write the access log: %s", strerror(-result));
    return 0;
}

/* splitmix64 over a per-thread state seeded from getrandom(2). */
static _Thread_local uint64_t request_id_state;
static _Thread_local int request_id_seeded;

void request_id_generate(char out[REQUEST_ID_SIZE])
{
    if (!request_id_seeded) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
            /* No entropy yet (early boot): time and this thread's address
             * still make the sequences of two threads differ. */
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            seed = ((uint64_t)now.tv_sec << 30) ^ (uint64_t)now.tv_nsec ^
                   (uint64_t)(uintptr_t)&request_id_state ^ ((uint64_t)getpid() << 48);
        }
        request_id_state = seed;
        request_id_seeded = 1;
    }
    request_id_state += 0x9e3779b97f4a7c15u;
    uint64_t value = request_id_state;
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9u;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebu;
    value ^= value >> 31;
    static const char digits[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = digits[value & 0xf];
        value >>= 4;
    }
    out[16] = '\0';
}

/* Level in the low byte, format in the next: one atomic for both. */
static atomic_int log_settings = LOG_LEVEL_INFO | (LOG_FORMAT_TEXT << 8);

void log_configure(enum log_level level, enum log_format format)
{
    atomic_store(&log_settings, (int)(level & 0xff) | ((int)(format & 0xff) << 8));
}

enum log_level log_level_current(void)
{
    return (enum log_level)(atomic_load_explicit(&log_settings, memory_order_relaxed) & 0xff);
}

enum log_format log_format_current(void)
{
    return (enum log_format)((atomic_load_explicit(&log_settings, memory_order_relaxed) >> 8) &
                             0xff);
}

int log_enabled(enum log_level level)
{
    return level <= log_level_current();
}

static int format_message(enum log_format format, enum log_level level, const struct timespec *time,
                          const char *message, char *buffer, size_t size)
{
    struct line line = {buffer, size - 1, 0, 0};
    struct timespec zero = {0, 0};
    if (time == NULL)
        time = &zero;
    if (message == NULL)
        message = "";
    if (format == LOG_FORMAT_JSON) {
        put(&line, "{\"time\":\"", 9);
        put_time(&line, time);
        put_string(&line, "\",\"level\":\"");
        put_string(&line, level_name(level));
        put_string(&line, "\",\"msg\":");
        put_json_string(&line, message, strlen(message), LOG_MESSAGE_MAX);
        put(&line, "}", 1);
    } else {
        put_time(&line, time);
        put_string(&line, " level=");
        put_string(&line, level_name(level));
        put_string(&line, " msg=\"");
        put_escaped(&line, message, strlen(message), LOG_MESSAGE_MAX, ESCAPE_TEXT);
        put(&line, "\"", 1);
    }
    return line_finish(&line);
}

int log_format_line(enum log_format format, enum log_level level, const struct timespec *time,
                    const char *message, char *buffer, size_t size)
{
    if (buffer == NULL || size == 0)
        return error_set(-ENOSPC, "log line: no buffer");
    int length = format_message(format, level, time, message, buffer, size);
    return length < 0 ? too_small(size) : length;
}

void log_message(enum log_level level, const char *format, ...)
{
    int settings = atomic_load_explicit(&log_settings, memory_order_relaxed);
    if ((int)level > (settings & 0xff))
        return;
    char message[LOG_MESSAGE_MAX + 8]; /* more than kept, so that the cut shows */
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, sizeof message, format, arguments);
    va_end(arguments);
    char buffer[ACCESS_LOG_LINE_MAX];
    int length = format_message((enum log_format)((settings >> 8) & 0xff), level, NULL, message,
                                buffer, sizeof buffer);
    if (length > 0) {
        (void)access_log_flush(); /* this thread's earlier lines first */
        (void)write_all(buffer, (size_t)length);
    }
}
