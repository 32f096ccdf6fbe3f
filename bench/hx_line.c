/* SPDX-License-Identifier: MIT */
/*
 * hx_line.c - guest output lines (see harness.h): "AB <event> key=value ..."
 * parsed into an event and its key/value pairs.
 */
#include "harness.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct line_priv {
	struct hx_line pub;
	char *text;
	char *words;
	char **keys;
	char **vals;
};

void hx_line_free(struct hx_line *l)
{
	if (!l)
		return;
	struct line_priv *p = (struct line_priv *)l;
	free(p->text);
	free(p->words);
	free(p->keys);
	free(p->vals);
	free(p);
}

int hx_line_parse(const char *text, uint64_t mono_ns, struct hx_line **ret)
{
	if (strncmp(text, "AB ", 3))
		return -EINVAL;
	struct line_priv *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->text = strdup(text);
	p->words = strdup(text + 3);
	size_t max = 1;
	for (const char *c = text; *c; c++)
		if (*c == '=')
			max++;
	p->keys = calloc(max, sizeof(char *));
	p->vals = calloc(max, sizeof(char *));
	if (!p->text || !p->words || !p->keys || !p->vals) {
		hx_line_free(&p->pub);
		return -ENOMEM;
	}
	char *save = NULL;
	char *ev = strtok_r(p->words, " ", &save);
	if (!ev) {
		hx_line_free(&p->pub);
		return -EINVAL;
	}
	size_t n = 0;
	for (char *w = strtok_r(NULL, " ", &save); w;
	     w = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(w, '=');
		if (!eq || eq == w)
			continue;
		*eq = '\0';
		p->keys[n] = w;
		p->vals[n] = eq + 1;
		n++;
	}
	p->pub.mono_ns = mono_ns;
	p->pub.text = p->text;
	p->pub.event = ev;
	p->pub.nkv = n;
	p->pub.keys = (const char *const *)p->keys;
	p->pub.vals = (const char *const *)p->vals;
	*ret = &p->pub;
	return 0;
}

const char *hx_line_get(const struct hx_line *l, const char *key)
{
	for (size_t i = 0; i < l->nkv; i++)
		if (!strcmp(l->keys[i], key))
			return l->vals[i];
	return NULL;
}

int hx_line_get_u64(const struct hx_line *l, const char *key, uint64_t *ret)
{
	const char *v = hx_line_get(l, key);
	if (!v)
		return -ENOENT;
	if (!isdigit((unsigned char)v[0]))
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = x;
	return 0;
}

static bool text_matches(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	return !strncmp(text, prefix, n) &&
	       (text[n] == '\0' || text[n] == ' ' || (n && prefix[n - 1] == ' '));
}

bool hx_line_matches(const struct hx_line *l, const char *prefix)
{
	return text_matches(l->text, prefix);
}
