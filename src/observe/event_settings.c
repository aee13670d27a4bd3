/* src/observe/event_settings.c — see event_settings.h. */
#include "src/observe/event_settings.h"

#include <stdlib.h>
#include <string.h>

static void strings_release(char **items, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(items[i]);
    free(items);
}

void event_settings_release(struct event_settings *settings)
{
    for (size_t e = 0; e < settings->endpoint_count; e++) {
        struct event_endpoint_settings *endpoint = &settings->endpoints[e];
        free(endpoint->name);
        free(endpoint->url);
        for (size_t h = 0; h < endpoint->header_count; h++) {
            free(endpoint->headers[h].name);
            strings_release(endpoint->headers[h].values, endpoint->headers[h].value_count);
        }
        free(endpoint->headers);
        strings_release(endpoint->ignored_media_types, endpoint->ignored_media_type_count);
        strings_release(endpoint->ignored_actions, endpoint->ignored_action_count);
        strings_release(endpoint->repositories, endpoint->repository_count);
        free(endpoint->secret);
    }
    free(settings->endpoints);
    free(settings->spool_directory);
    memset(settings, 0, sizeof *settings);
}
