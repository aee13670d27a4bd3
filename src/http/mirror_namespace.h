/*
 * src/http/mirror_namespace.h — containerd's mirror requests: a pull of
 * `docker.io/library/alpine` through a mirror in `hosts.toml` asks
 * `/v2/library/alpine/manifests/3.19?ns=docker.io`, without a prefix. When
 * `ns` is a host that a mirror's `hosts` lists (cairn.mirrors[].hosts), the
 * request is about that mirror's repository `<prefix>/library/alpine`, the
 * same one a prefix-form client (podman's registries.conf) fills and reads.
 *
 * Called once per request on the loop, right after the route is parsed and
 * before access is decided, so that access rules, pushes refused and every
 * handler see the mirror's name. A request without `ns`, with an `ns` no
 * mirror lists, or whose prefixed name would not be a valid repository name,
 * keeps its route as it is.
 *
 *     mirror_namespace_apply(runtime, query, query_length, &route);
 */
#ifndef CAIRN_SRC_HTTP_MIRROR_NAMESPACE_H
#define CAIRN_SRC_HTTP_MIRROR_NAMESPACE_H

#include <stddef.h>

#include "src/config/runtime.h"
#include "src/http/router.h"

/* 1 when the route's name was changed, else 0. `query` is the raw query
 * string after '?' (NULL when there is none). */
int mirror_namespace_apply(const struct runtime *runtime, const char *query, size_t query_length,
                           struct route *route);

#endif
