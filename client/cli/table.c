/* SPDX-License-Identifier: Apache-2.0 */
/* table.c — the CLI's aligned tables and allocation that exits on failure. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void out_of_memory(void)
{
	fputs("pagebus: out of memory\n", stderr);
	exit(EXIT_RUNTIME);
}

void *xrealloc(void *p, size_t n)
{
	if (!(p = realloc(p, n ? n : 1)))
		out_of_memory();
	return p;
}

void cell(struct table *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		out_of_memory();
	t->cells = xrealloc(t->cells, (t->n + 1) * sizeof(*t->cells));
	t->cells[t->n++] = s;
}

void table_start(struct table *t, const char *head)
{
	*t = (struct table){ 0 };
	for (const char *w = head; *w; t->ncols++) {
		int len = (int)strcspn(w, " ");
		cell(t, "%.*s", len, w);
		w += len + (w[len] == ' ');
	}
}

void table_print(struct table *t, FILE *f)
{
	size_t width[16] = { 0 };
	for (size_t i = 0; i < t->n; i++) {
		size_t len = strlen(t->cells[i]);
		if (len > width[i % (size_t)t->ncols])
			width[i % (size_t)t->ncols] = len;
	}
	for (size_t i = 0; i < t->n; i++) {
		size_t col = i % (size_t)t->ncols;
		if (col + 1 == (size_t)t->ncols)
			fprintf(f, "%s\n", t->cells[i]);
		else
			fprintf(f, "%-*s  ", (int)width[col], t->cells[i]);
		free(t->cells[i]);
	}
	free(t->cells);
	t->cells = NULL;
	t->n = 0;
}
