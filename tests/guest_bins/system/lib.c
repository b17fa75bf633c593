#include "lib.h"

void uart_putc(char c)
{
	while (REG(UART0 + UART_FR) & FR_TXFF)
		;
	REG(UART0 + UART_DR) = (uint8_t)c;
}

void uart_puts(const char *s)
{
	while (*s)
		uart_putc(*s++);
}

void put_dec(uint32_t v)
{
	char buf[11];
	int i = 0;
	do {
		buf[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		uart_putc(buf[--i]);
}

void put_hex(uint32_t v)
{
	uart_puts("0x");
	for (int shift = 28; shift >= 0; shift -= 4)
		uart_putc("0123456789abcdef"[(v >> shift) & 0xf]);
}

/* ARM semihosting: op in r0, argument in r1, result in r0.  The trap is
 * "svc 0x123456" in ARM state and "svc 0xab" in Thumb state. */
uint32_t sh_call(uint32_t op, uint32_t arg)
{
	register uint32_t r0 __asm__("r0") = op;
	register uint32_t r1 __asm__("r1") = arg;
#ifdef __thumb__
	__asm__ volatile("svc 0xab" : "+r"(r0) : "r"(r1) : "memory");
#else
	__asm__ volatile("svc 0x123456" : "+r"(r0) : "r"(r1) : "memory");
#endif
	return r0;
}

/* The same through the v2 HLT trap: "hlt 0xf000" (ARM) / "hlt 0x3c" (Thumb). */
uint32_t sh_call_hlt(uint32_t op, uint32_t arg)
{
	register uint32_t r0 __asm__("r0") = op;
	register uint32_t r1 __asm__("r1") = arg;
#ifdef __thumb__
	__asm__ volatile(".inst.n 0xbabc" : "+r"(r0) : "r"(r1) : "memory");
#else
	__asm__ volatile(".inst 0xe10f0070" : "+r"(r0) : "r"(r1) : "memory");
#endif
	return r0;
}

void sh_write0(const char *s)
{
	sh_call(0x04, (uint32_t)s);
}

void sh_exit_status(uint32_t status)
{
	/* SYS_EXIT_EXTENDED {ADP_Stopped_ApplicationExit, status}. */
	static volatile uint32_t block[2];
	block[0] = 0x20026;
	block[1] = status;
	sh_call(0x20, (uint32_t)block);
	for (;;)
		;
}

void fault_handler(uint32_t kind, uint32_t lr)
{
	uart_puts("\nFAULT ");
	put_dec(kind);
	uart_puts(" lr=");
	put_hex(lr);
	uart_putc('\n');
	sh_exit_status(99);
}

/* Flat map of the 4 GiB with 1 MiB sections: device memory below RAM,
 * normal write-back memory from 0x40000000 (ARMv7-A ARM B3.5.1). */
extern uint32_t __ttb[];
void mmu_enable(void)
{
	for (uint32_t i = 0; i < 4096; i++) {
		uint32_t section = i << 20;
		uint32_t attrs = (3u << 10) | 2u;	  /* AP=full access, section */
		if (section < 0x40000000u)
			attrs |= (1u << 4) | (1u << 2);	  /* XN, shareable device */
		else
			attrs |= (1u << 12) | (3u << 2);  /* TEX=1 C B: write-back */
		__ttb[i] = section | attrs;
	}
	__asm__ volatile(
		"mcr p15, 0, %0, c2, c0, 2\n"	/* TTBCR = 0: TTBR0 only */
		"mcr p15, 0, %1, c2, c0, 0\n"	/* TTBR0 */
		"mcr p15, 0, %2, c3, c0, 0\n"	/* DACR: domain 0 client */
		"mcr p15, 0, %0, c8, c7, 0\n"	/* TLBIALL */
		"dsb\n"
		"isb\n"
		"mrc p15, 0, r0, c1, c0, 0\n"
		"orr r0, r0, #0x1000\n"		/* I */
		"orr r0, r0, #0x5\n"		/* C, M */
		"mcr p15, 0, r0, c1, c0, 0\n"
		"isb\n"
		:: "r"(0), "r"(__ttb), "r"(1) : "r0", "memory");
}

#define MAX_IRQ 288
static irq_handler_t handlers[MAX_IRQ];

void gic_init(void)
{
	REG(GICD + 0x000) = 0;		/* distributor off while configuring */
	REG(GICC + 0x004) = 0xff;	/* PMR: let everything through */
	REG(GICC + 0x000) = 1;		/* CPU interface on */
	REG(GICD + 0x000) = 1;		/* distributor on */
}

void gic_enable(unsigned intid, irq_handler_t handler)
{
	handlers[intid] = handler;
	((volatile uint8_t *)(GICD + 0x400))[intid] = 0x80;	/* priority */
	if (intid >= 32)
		((volatile uint8_t *)(GICD + 0x800))[intid] = 1;	/* to CPU 0 */
	REG(GICD + 0x100 + 4 * (intid / 32)) = 1u << (intid % 32);
}

void irq_dispatch(void)
{
	for (;;) {
		uint32_t iar = REG(GICC + 0x00c);
		uint32_t id = iar & 0x3ff;
		if (id >= 1020)
			return;
		if (id < MAX_IRQ && handlers[id])
			handlers[id]();
		REG(GICC + 0x010) = iar;	/* EOI */
	}
}
