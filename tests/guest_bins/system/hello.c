/* Hello over the PL011, a look at the board, and a semihosting exit. */
#include "lib.h"

int main(void)
{
	mmu_enable();
	uart_puts("Hello from the virt board!\n");
	/* The DTB sits at the start of RAM, big-endian magic 0xd00dfeed. */
	uart_puts(REG(0x40000000) == 0xedfe0dd0u ? "dtb: present\n" : "dtb: missing\n");
	uart_puts("pl011 id:");
	for (uint32_t off = 0xfe0; off < 0x1000; off += 4) {
		uart_putc(' ');
		put_hex(REG(UART0 + off) & 0xff);
	}
	uart_puts("\npl031 id:");
	for (uint32_t off = 0xfe0; off < 0x1000; off += 4) {
		uart_putc(' ');
		put_hex(REG(RTC + off) & 0xff);
	}
	uart_puts("\nmidr: ");	/* qemu 7.2's Cortex-A15 is r4p0 */
	uint32_t midr;
	__asm__ volatile("mrc p15, 0, %0, c0, c0, 0" : "=r"(midr));
	put_hex(midr);
	uart_puts("\ngic lines: ");
	put_dec(REG(GICD + 0x004) & 0x1f);
	/* GICD_IIDR and GICC_IIDR: two layouts (IHI 0048B 4.3.3, 4.4.15). */
	uart_puts("\ngicd iidr: ");
	put_hex(REG(GICD + 0x008));
	uart_puts("\ngicc iidr: ");
	put_hex(REG(GICC + 0x0fc));
	uart_puts("\nrtc running: ");
	uart_puts(REG(RTC + 0x0) > 1000000000u ? "yes\n" : "no\n");
	sh_write0("semihosting: SYS_WRITE0\n");
	uart_puts("bye\n");
	return 0;
}
