// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rko bench's QEMU TCG plugin: counts the instructions executed at each
 * guest virtual address, exactly (an inline add per instruction, no
 * callback), and writes the counts in segments: a new segment starts each
 * time the guest executes the instruction at mark=ADDR (rko bench's driver
 * reads /proc/version between the C and the Rust runs, which executes
 * version_proc_show), and the last ends when QEMU exits.
 *
 *   -plugin libinsncount.so,out=FILE,mark=HEXADDR
 *
 * FILE gets, per segment, "S n" and then "ADDR COUNT" lines (hex, decimal)
 * for the addresses executed in it. The declarations below are the part
 * of QEMU 7.2's include/qemu/qemu-plugin.h (plugin API version 1) this
 * plugin uses; QEMU checks qemu_plugin_version when it loads the plugin.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb, enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

struct slot {
	uint64_t vaddr;
	uint64_t count; /* the inline add's target */
	uint64_t last;  /* count at the previous segment's end */
};

#define CHUNK 65536
static struct slot **chunks;
static size_t nslots, nchunks;
static size_t *table; /* open addressing: slot index + 1, 0 = empty */
static size_t tsize;
static uint64_t mark;
static FILE *out;
static unsigned segment;

static struct slot *slot_at(size_t i) { return &chunks[i / CHUNK][i % CHUNK]; }

static size_t hash(uint64_t v) { return (size_t)((v * 0x9E3779B97F4A7C15ull) >> 20); }

static void grow(void);

static struct slot *lookup(uint64_t vaddr)
{
	size_t h = hash(vaddr) & (tsize - 1);
	for (;;) {
		size_t e = table[h];
		if (!e)
			break;
		if (slot_at(e - 1)->vaddr == vaddr)
			return slot_at(e - 1);
		h = (h + 1) & (tsize - 1);
	}
	if (nslots % CHUNK == 0) {
		if (nslots / CHUNK == nchunks) {
			nchunks = nchunks ? 2 * nchunks : 16;
			chunks = realloc(chunks, nchunks * sizeof(*chunks));
		}
		chunks[nslots / CHUNK] = calloc(CHUNK, sizeof(struct slot));
	}
	struct slot *s = slot_at(nslots);
	s->vaddr = vaddr;
	table[h] = ++nslots;
	if (2 * nslots > tsize)
		grow();
	return s;
}

static void grow(void)
{
	free(table);
	tsize *= 2;
	table = calloc(tsize, sizeof(*table));
	for (size_t i = 0; i < nslots; i++) {
		size_t h = hash(slot_at(i)->vaddr) & (tsize - 1);
		while (table[h])
			h = (h + 1) & (tsize - 1);
		table[h] = i + 1;
	}
}

static void dump(void)
{
	fprintf(out, "S %u\n", segment++);
	for (size_t i = 0; i < nslots; i++) {
		struct slot *s = slot_at(i);
		if (s->count != s->last) {
			fprintf(out, "%llx %llu\n", (unsigned long long)s->vaddr, (unsigned long long)(s->count - s->last));
			s->last = s->count;
		}
	}
	fflush(out);
}

static void on_mark(unsigned int vcpu, void *udata) { dump(); }

static void on_exit_cb(qemu_plugin_id_t id, void *p) { dump(); fclose(out); }

static void on_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);
	for (size_t i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		uint64_t va = qemu_plugin_insn_vaddr(insn);
		struct slot *s = lookup(va);
		if (mark && va == mark)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
		qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &s->count, 1);
	}
}

static uint64_t parse_hex(const char *s)
{
	uint64_t v = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; *s; s++) {
		int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : *s >= 'A' && *s <= 'F' ? *s - 'A' + 10 : -1;
		if (d < 0)
			return 0;
		v = v << 4 | (uint64_t)d;
	}
	return v;
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	const char *path = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "out=", 4))
			path = argv[i] + 4;
		else if (!strncmp(argv[i], "mark=", 5))
			mark = parse_hex(argv[i] + 5);
	}
	if (!path) {
		fprintf(stderr, "insncount: no out=FILE\n");
		return -1;
	}
	out = fopen(path, "w");
	if (!out) {
		perror(path);
		return -1;
	}
	tsize = 1 << 20;
	table = calloc(tsize, sizeof(*table));
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_trans);
	qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
	return 0;
}
