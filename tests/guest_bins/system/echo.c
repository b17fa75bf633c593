/* UART echo driven by receive interrupts; built as Thumb code.
 * Echoes letters upper-cased, stops at 'q', exits with the count. */
#include "lib.h"

static volatile uint32_t count, done;

static void on_uart(void)
{
	while (!(REG(UART0 + UART_FR) & FR_RXFE)) {
		char c = (char)REG(UART0 + UART_DR);
		if (c == 'q') {
			done = 1;
			REG(UART0 + UART_IMSC) = 0;
			return;
		}
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		uart_putc(c);
		count++;
	}
}

int main(void)
{
	gic_init();
	gic_enable(32 + 1, on_uart);	/* PL011 is SPI 1 */
	REG(UART0 + UART_IMSC) = INT_RX | INT_RT;
	uart_puts("echo ready\n");
	irq_enable();
	while (!done)
		wfi();
	uart_puts("\nechoed ");
	put_dec(count);
	uart_putc('\n');
	return count & 0xff;
}
