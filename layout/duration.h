/*
 * layout/duration.h — durations as Distribution's config.yml writes them
 * (Go's time.ParseDuration syntax): "90s", "15m", "168h", "1h30m", "1.5h",
 * "0". Shared by the server's configuration and the tools' flags, so that
 * `storage.maintenance.uploadpurging.age: 168h` and `cairn-gc --grace 168h`
 * read the same way.
 *
 * Only whole seconds are accepted (a duration that is not a whole number of
 * seconds, like "500ms" or "1.5s", is refused with a clear message); "2000ms"
 * is fine. A value that does not fit is refused, never wrapped.
 *
 *     uint64_t seconds;
 *     if (duration_parse("1h30m", &seconds) == 0) ... // 5400
 */
#ifndef CAIRN_LAYOUT_DURATION_H
#define CAIRN_LAYOUT_DURATION_H

#include <stdint.h>

/* 0, or -EINVAL with error_message() naming the text. */
int duration_parse(const char *text, uint64_t *seconds_out);

#endif
