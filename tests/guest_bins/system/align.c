/* SCTLR.A: with it set, an unaligned word or halfword access is an alignment
 * fault (DFSR FS 0b00001) taken as a data abort; with it clear the same access
 * just works (ARMv7-A ARM A3.2.1, B3.12.1).  The abort handler records DFSR,
 * DFAR and the faulting PC, then skips the instruction.  Also reads a PL011
 * register no model implements (for -d unimp). */
#include "lib.h"

struct abort_info {
	uint32_t dfsr, dfar, count, saved_r0, pc;
};
struct abort_info abort_info;
extern uint32_t align_vectors[];

/* Abort mode has its own SP: used as the pointer, so no stack is needed. */
__asm__(
	"	.arm\n"
	"	.align 5\n"
	"align_vectors:\n"
	"	b	.\n"			/* reset */
	"	b	.\n"			/* undefined */
	"	b	.\n"			/* svc */
	"	b	.\n"			/* prefetch abort */
	"	b	align_dabt\n"		/* data abort */
	"	b	.\n"
	"	b	.\n"			/* irq */
	"	b	.\n"			/* fiq */
	"align_dabt:\n"
	"	ldr	sp, =abort_info\n"
	"	str	r0, [sp, #12]\n"
	"	mrc	p15, 0, r0, c5, c0, 0\n"	/* DFSR */
	"	str	r0, [sp, #0]\n"
	"	mrc	p15, 0, r0, c6, c0, 0\n"	/* DFAR */
	"	str	r0, [sp, #4]\n"
	"	ldr	r0, [sp, #8]\n"
	"	add	r0, r0, #1\n"
	"	str	r0, [sp, #8]\n"
	"	sub	r0, lr, #8\n"			/* the faulting instruction */
	"	str	r0, [sp, #16]\n"
	"	ldr	r0, [sp, #12]\n"
	"	subs	pc, lr, #4\n"			/* return past it */
	"	.ltorg\n");

static uint8_t buf[16] __attribute__((aligned(8)));

static uint32_t sctlr(void)
{
	uint32_t v;
	__asm__ volatile("mrc p15, 0, %0, c1, c0, 0" : "=r"(v));
	return v;
}

static void set_sctlr(uint32_t v)
{
	__asm__ volatile("mcr p15, 0, %0, c1, c0, 0\n\tisb" ::"r"(v) : "memory");
}

static void report(const char *what, uint32_t value, uint32_t before)
{
	uart_puts(what);
	uart_puts(" value=");
	put_hex(value);
	if (abort_info.count != before) {
		uart_puts(" abort dfsr=");
		put_hex(abort_info.dfsr);
		uart_puts(" dfar=buf+");
		put_dec(abort_info.dfar - (uint32_t)buf);
	}
	uart_putc('\n');
}

#define LOAD(insn, off)                                                              \
	({                                                                           \
		uint32_t v_ = 0xdeadbeef;                                            \
		__asm__ volatile(insn " %0, [%1]" : "+r"(v_) : "r"(buf + (off)) : "memory"); \
		v_;                                                                  \
	})

static void accesses(const char *mode)
{
	volatile uint8_t *b = buf;	/* byte by byte: no unaligned word load of our own */
	uint32_t before;
	uart_puts(mode);
	before = abort_info.count;
	report(" ldr buf+1", LOAD("ldr", 1), before);
	before = abort_info.count;
	report(" ldrh buf+1", LOAD("ldrh", 1), before);
	before = abort_info.count;
	report(" ldrh buf+2", LOAD("ldrh", 2), before);
	before = abort_info.count;
	report(" ldrb buf+3", LOAD("ldrb", 3), before);
	before = abort_info.count;
	report(" ldr buf+4", LOAD("ldr", 4), before);
	before = abort_info.count;
	__asm__ volatile("str %0, [%1]" ::"r"(0x11223344u), "r"(buf + 6) : "memory");
	report(" str buf+6", b[6] | b[7] << 8 | b[8] << 16 | (uint32_t)b[9] << 24, before);
}

int main(void)
{
	for (int i = 0; i < 16; i++)
		buf[i] = i + 1;
	mmu_enable();	/* normal memory: unaligned accesses allowed while A is clear */
	__asm__ volatile("mcr p15, 0, %0, c12, c0, 0" ::"r"(align_vectors));
	accesses("A=0\n");
	set_sctlr(sctlr() | 2);
	accesses("A=1\n");
	set_sctlr(sctlr() & ~2u);
	for (int i = 0; i < 16; i++)
		buf[i] = i + 1;
	accesses("A=0 again\n");
	uart_puts("aborts: ");
	put_dec(abort_info.count);
	uart_puts("\nuart 0x80: ");
	put_hex(REG(UART0 + 0x80));
	uart_putc('\n');
	return 0;
}
