/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pagebusd — the broker: parse the configuration, open the data dir, run the loop.
 * Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration.
 */
#include <stdio.h>

#include "broker.h"
#include "config.h"

int main(int argc, char **argv)
{
	struct broker_config cfg;
	char err[512];
	config_defaults(&cfg);
	int r = config_parse_args(&cfg, argc, argv, err, sizeof(err));
	if (r == 1) {
		config_free(&cfg);
		return 0;
	}
	if (r < 0) {
		fprintf(stderr, "pagebusd: %s\n", err);
		fprintf(stderr, "pagebusd: see pagebusd --help\n");
		config_free(&cfg);
		return 2;
	}
	struct broker b;
	r = broker_open(&b, &cfg);
	if (r == 0)
		r = broker_run(&b);
	broker_close(&b);
	config_free(&cfg);
	return r == 0 ? 0 : 1;
}
