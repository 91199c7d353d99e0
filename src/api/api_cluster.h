/* api_cluster.h - the cluster's HTTP view.
 *
 *   GET /api/cluster   {self, instances: [{id, rooms, connections, startedAt, lastSeen}]}: the
 *                      live instances as this one's last heartbeat saw them (members.h);
 *                      404 NOT_FOUND when --cluster is off. Public, like /api/rooms: it holds
 *                      counts and names, no secrets. */
#ifndef MT_API_CLUSTER_H
#define MT_API_CLUSTER_H

/* Registers GET /api/cluster. Returns 0, or non-zero when the route table is full. */
int api_cluster_init(void);

#endif
