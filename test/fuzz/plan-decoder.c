/*
 * plan-decoder.c - a libFuzzer target for the executor's plan decoder:
 * plan_decode() of native/runts-init.c on arbitrary bytes, as if they had
 * come as the payload of MSG_PLAN (the wire format: native/protocol.h).
 *
 * The decoder runs nothing, so nothing here touches the system. Built with
 * AddressSanitizer and UndefinedBehaviorSanitizer (see Makefile), a read
 * past the message, a leak on a refused plan or an overflow is a crash.
 * Beyond that the target checks what the stages rely on:
 *   refused   a "plan: ..." message, a step index of -1 or a real step,
 *             and nothing left allocated;
 *   accepted  exactly one CLONE, inside the plan, with namespace flags
 *             only; every string NUL-terminated at its length; every list
 *             NULL-terminated at its count; and the plan, encoded again
 *             from what was decoded (by each op's signature), is the very
 *             input: nothing read from outside a value, nothing skipped.
 *
 *   make -C test/fuzz                  -> build/plan-decoder, in test/fuzz
 *   build/plan-decoder CORPUS_DIR...   (and libFuzzer's options)
 * test/fuzz/run.ts runs it, bounded in time, with seeds made by seeds.ts.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../native/runts-init.h"

#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
		  CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

__attribute__((noreturn)) static void broken(const char *what)
{
	fprintf(stderr, "plan-decoder: %s\n", what);
	abort();
}

static void check_value(const struct value *v)
{
	volatile size_t sink = 0;
	if (v->str) {
		if (v->str[v->len] != 0)
			broken("a string without its NUL");
		for (uint32_t i = 0; i < v->len; i++)
			sink += (unsigned char)v->str[i]; /* every byte is ours to read */
	}
	if (v->strs) {
		for (uint32_t i = 0; i < v->len; i++) {
			if (!v->strs[i])
				broken("a list of strings shorter than its count");
			sink += strlen(v->strs[i]);
		}
		if (v->strs[v->len])
			broken("a list of strings not NULL-terminated");
	}
	if (v->nums && v->len)
		sink += v->nums[v->len - 1];
	(void)sink;
}

/* ---- the plan encoded again, as src/protocol/encode.ts writes it ---- */

struct writer {
	uint8_t *buf;
	size_t len, cap;
};

static void put(struct writer *w, const void *p, size_t n)
{
	if (!n)
		return;
	if (w->len + n > w->cap) {
		w->cap = (w->len + n) * 2;
		if (!(w->buf = realloc(w->buf, w->cap)))
			broken("out of memory");
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_u32(struct writer *w, uint32_t v) { put(w, &v, 4); }

static void put_bytes(struct writer *w, const char *s, uint32_t n)
{
	put_u32(w, n);
	put(w, s, n);
}

static void encode_step(struct writer *w, const struct step *s)
{
	const char *sig = plan_signature(s->op);
	struct writer payload = {0};
	if (!sig)
		broken("an accepted step with an unknown op");
	for (int k = 0; sig[k]; k++) {
		const struct value *v = &s->v[k];
		uint8_t tag = sig[k] == 'i' || sig[k] == 'n' ? VAL_INT :
			      sig[k] == 's' || sig[k] == 'b' ? VAL_STR :
			      sig[k] == 'S' ? VAL_STRS : VAL_INTS;
		put(&payload, &tag, 1);
		if (tag == VAL_INT) {
			put(&payload, &v->num, 8);
		} else if (tag == VAL_STR) {
			put_bytes(&payload, v->str, v->len);
		} else if (tag == VAL_STRS) {
			put_u32(&payload, v->len);
			for (uint32_t i = 0; i < v->len; i++)
				put_bytes(&payload, v->strs[i], (uint32_t)strlen(v->strs[i]));
		} else {
			put_u32(&payload, v->len);
			put(&payload, v->nums, (size_t)v->len * 8);
		}
	}
	put_u32(w, s->op);
	put_u32(w, (uint32_t)payload.len);
	put(w, payload.buf, payload.len);
	free(payload.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct plan pl;
	struct plan_error e;

	if (plan_decode(data, size, &pl, &e) < 0) {
		if (strncmp(e.msg, "plan: ", 6) != 0 || !memchr(e.msg, 0, sizeof e.msg))
			broken("a refusal without a plan: message");
		if (e.index < -1 || e.err <= 0)
			broken("a refusal with a bad step index or errno");
		if (pl.steps || pl.count || pl.clone)
			broken("a refused plan left allocated");
		return 0;
	}
	if (!pl.steps || !pl.clone || pl.clone < pl.steps || pl.clone >= pl.steps + pl.count)
		broken("an accepted plan without its clone step");
	if (pl.clone->op != STEP_CLONE || pl.clone->v[0].num & ~(uint64_t)NS_FLAGS)
		broken("an accepted clone that is not a namespace clone");
	for (uint32_t i = 0; i < pl.count; i++) {
		const struct step *s = &pl.steps[i];
		if (s->index != (int)i)
			broken("a step that does not know its index");
		if (s->op == STEP_CLONE && s != pl.clone)
			broken("a second clone accepted");
		for (int k = 0; k < MAX_VALUES; k++)
			check_value(&s->v[k]);
	}
	struct writer w = {0};
	uint32_t head[4] = {RUNTS_PLAN_MAGIC, RUNTS_PROTOCOL_VERSION, pl.count, 0};
	put(&w, head, sizeof head);
	for (uint32_t i = 0; i < pl.count; i++)
		encode_step(&w, &pl.steps[i]);
	if (w.len != size || memcmp(w.buf, data, size) != 0)
		broken("an accepted plan that does not encode back to its bytes");
	free(w.buf);
	plan_free(&pl);
	return 0;
}
