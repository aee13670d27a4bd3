/*
 * src/registry/link_cache.h — the digests of recently read link files, kept
 * per thread and trusted only while one stat() shows the link unchanged.
 *
 * A manifest GET by tag reads the tag's current link (open, read, close)
 * before anything else. The cache replaces that with one stat() of the same
 * path: when the link's stamp (layout/link_file.h: device, inode, size,
 * modification and change times) is the one taken when its bytes were read,
 * the link still holds those bytes, since links are only ever replaced by a
 * rename or removed. So a tag moved or deleted by anyone — this server,
 * another server on the same tree, cairn-gc, a restore — is seen by the very
 * next lookup; nothing is ever answered from the cache without that stat.
 *
 * A stamp cannot tell apart two versions made within one tick of the
 * filesystem's clock when the second reuses the first's inode number (two
 * replacements in a row within a few milliseconds can do that). So a link
 * changed less than LINK_CACHE_SETTLE_SECONDS before it was read (or, by a
 * skewed clock, after) is not kept: it is read again next time. Any version
 * made later carries a later change time than the kept one, so it is seen.
 * (This holds for filesystems whose clock ticks at most once a second.)
 *
 * Bounded: LINK_CACHE_SLOTS direct-mapped slots per thread (keyed by a hash
 * of the path), one path copy each. No locks: each thread has its own, and
 * what a lookup returns is a copy.
 *
 *     struct digest target;
 *     int result = link_cache_read(path, &target); // as link_file_read()
 */
#ifndef CAIRN_SRC_REGISTRY_LINK_CACHE_H
#define CAIRN_SRC_REGISTRY_LINK_CACHE_H

#include "layout/digest.h"

#define LINK_CACHE_SLOTS 1024
#define LINK_CACHE_SETTLE_SECONDS 2

/* The digest the link at `path` names, as link_file_read() answers it (0;
 * -ENOENT when there is no link; -EINVAL for a link with other bytes; another
 * negative errno), from this thread's cache when the link is unchanged. */
int link_cache_read(const char *path, struct digest *out);

#endif
