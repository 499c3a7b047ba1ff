// SPDX-License-Identifier: MIT
/*
 * What bublk list --json adds to a live device's state: each NBD
 * backend's connections as its daemon's queues count them (the pinned
 * bublk_stats map, as bublk stats reads it). The state file only says
 * what the device was made with; this says how it is now.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>

#include "cli.h"
#include "dev.h"
#include "nbd_url.h"
#include "state.h"
#include "stats_map.h"

static int add_u64(struct json_object *o, const char *key, __u64 v)
{
	struct json_object *val = json_object_new_uint64(v);

	if (!val || json_object_object_add(o, key, val)) {
		json_object_put(val);
		return -1;
	}
	return 0;
}

static struct json_object *connection(const struct bublk_stats *sum, int i, int queues)
{
	struct json_object *c = json_object_new_object();
	const char *state = sum->nbd_up[i] == (__u64)queues ? "up" :
			    sum->nbd_up[i] ? "partly down" : "down";

	if (!c || json_object_object_add(c, "state", json_object_new_string(state)) ||
	    add_u64(c, "queues_connected", sum->nbd_up[i]) || add_u64(c, "queues", queues) ||
	    add_u64(c, "lost", sum->nbd_lost[i]) || add_u64(c, "reconnects", sum->nbd_reconnects[i])) {
		json_object_put(c);
		return NULL;
	}
	return c;
}

char *list_with_connections(char *json, const struct bublk_state *st)
{
	struct bublk_stats *per;
	struct json_object *o, *arr, *b, *c;
	struct bublk_stats sum;
	bool nbd = false;
	char *out;
	int fd, ret;

	for (int i = 0; i < st->nr_backends; i++)
		nbd |= bublk_nbd_is_url(st->backends[i].path);
	if (!json || !nbd || st->nr_queues < 1 || st->nr_queues > BUBLK_MAX_QUEUES)
		return json;
	/* not readable (not root, or the daemon just went): the state file alone */
	fd = stats_map_open(st->dev_id, "bublk_stats");
	if (fd < 0)
		return json;
	per = calloc(st->nr_queues, sizeof(*per));
	ret = per ? stats_read(fd, st->nr_queues, per) : -1;
	close(fd);
	if (!ret)
		bublk_stats_sum(per, st->nr_queues, &sum);
	free(per);
	if (ret)
		return json;
	o = json_tokener_parse(json);
	if (!o || !json_object_object_get_ex(o, "backends", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		json_object_put(o);
		return json;
	}
	for (int i = 0; i < st->nr_backends && i < (int)json_object_array_length(arr); i++) {
		if (!bublk_nbd_is_url(st->backends[i].path))
			continue;
		b = json_object_array_get_idx(arr, i);
		c = connection(&sum, i, st->nr_queues);
		if (!b || !c || json_object_object_add(b, "connection", c))
			json_object_put(c);
	}
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	if (!out)
		return json;
	free(json);
	return out;
}
