/*
 * layout/duration.h — durations as Distribution's config.yml writes them
 * (Go's time.ParseDuration syntax): "90s", "15m", "168h", "1h30m", "1.5h",
 * "0". Shared by the server's configuration and the tools' flags, so that
 * `storage.maintenance.uploadpurging.age: 168h` and `cairn-gc --grace 168h`
 * read the same way.
 *
 * duration_parse() accepts whole seconds only (a duration that is not a whole
 * number of seconds, like "500ms" or "1.5s", is refused with a clear
 * message); "2000ms" is fine. duration_parse_milliseconds() keeps
 * milliseconds. A value that does not fit is refused, never wrapped.
 *
 *     uint64_t seconds;
 *     if (duration_parse("1h30m", &seconds) == 0) ... // 5400
 */
#ifndef CAIRN_LAYOUT_DURATION_H
#define CAIRN_LAYOUT_DURATION_H

#include <stdint.h>

/* 0, or -EINVAL with error_message() naming the text. */
int duration_parse(const char *text, uint64_t *seconds_out);

/* The same grammar in milliseconds ("500ms", "1.5s", "1m30s", "0"), for
 * Distribution's notification timeouts: a part of a millisecond is rounded
 * up to a whole one ("1us" is 1). A negative duration and a bare number
 * other than "0" (which Go would read as nanoseconds) are refused with a
 * message saying so. 0, or -EINVAL with error_message() naming the text. */
int duration_parse_milliseconds(const char *text, uint64_t *milliseconds_out);

#endif
