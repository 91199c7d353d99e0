#include "api_cluster.h"

#include "http.h"
#include "members.h"

static void get_cluster(struct http_exchange *x)
{
    json_t *view = members_json();
    if (!view) {
        http_respond_error(x, 404, "NOT_FOUND", "cluster mode is off (--cluster)");
        return;
    }
    http_respond_json(x, 200, view);
}

int api_cluster_init(void)
{
    return http_route(HTTP_GET, "/api/cluster", get_cluster);
}
