/* SPDX-License-Identifier: Apache-2.0 */
/* pagebusd — the broker. The storage core is built; the event loop arrives next. */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "pagebusd: the broker is not yet available in this build "
			"(the storage core is; see README)\n");
	return 1;
}
