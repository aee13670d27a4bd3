/* src/http/mirror_namespace.h */
#include "src/http/mirror_namespace.h"

#include <stdio.h>
#include <string.h>

#include "layout/names.h"
#include "src/http/query.h"
#include "src/registry/mirror.h"

int mirror_namespace_apply(const struct runtime *runtime, const char *query, size_t query_length,
                           struct route *route)
{
    if (runtime->upstream_count == 0 || query == NULL || route->name[0] == '\0' ||
        route->kind == ROUTE_BASE || route->kind == ROUTE_CATALOG)
        return 0;
    char host[256];
    if (query_get(query, query_length, "ns", host, sizeof host) != 1 || host[0] == '\0')
        return 0;
    struct upstream *upstream = mirror_find_host(runtime->upstreams, runtime->upstream_count, host);
    if (upstream == NULL)
        return 0;
    char name[sizeof route->name];
    int length =
        snprintf(name, sizeof name, "%s/%s", upstream_settings_of(upstream)->prefix, route->name);
    if (length < 0 || (size_t)length >= sizeof name ||
        repository_name_validate(name, (size_t)length) < 0)
        return 0;
    memcpy(route->name, name, (size_t)length + 1);
    return 1;
}
