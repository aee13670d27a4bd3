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
 * A caller keeps what it read only once it has checked what it needs of it
 * (a tag's revision exists, say). For LINK_CACHE_TRUST_MILLISECONDS after
 * that, while the link is that version, lookups answer 1 and the caller may
 * skip those checks; then they answer 0 again (from the cache, without a
 * read, while the link is unchanged) until the caller checks and keeps once
 * more. So what spoils the checks without changing the link is seen within
 * that time, and what also changes the link at once:
 *
 *     struct digest target;
 *     struct link_stamp stamp;
 *     int result = link_cache_read(path, &target, &stamp);
 *     if (result == 0 && <target is fine>)
 *         link_cache_keep(path, &stamp, &target);
 */
#ifndef CAIRN_SRC_REGISTRY_LINK_CACHE_H
#define CAIRN_SRC_REGISTRY_LINK_CACHE_H

#include "layout/digest.h"
#include "layout/link_file.h"

#define LINK_CACHE_SLOTS 1024
#define LINK_CACHE_SETTLE_SECONDS 2
#define LINK_CACHE_TRUST_MILLISECONDS 1000

/* The digest the link at `path` names: 1 when answered from this thread's
 * cache (the link is still the version given to link_cache_keep(), less than
 * LINK_CACHE_TRUST_MILLISECONDS ago); 0 for the link's version now, with its
 * stamp in *stamp, for the caller to check and keep; otherwise as
 * link_file_read(): -ENOENT when there is no link, -EINVAL for a link with
 * other bytes, another negative errno. */
int link_cache_read(const char *path, struct digest *out, struct link_stamp *stamp);

/* Keeps `digest` as what the version `stamp` of `path` names (both from a
 * link_cache_read() that answered 0), checked now, unless that version is
 * too recent to be told from the next by its stamp
 * (LINK_CACHE_SETTLE_SECONDS). */
void link_cache_keep(const char *path, const struct link_stamp *stamp, const struct digest *digest);

#endif
