/* Timer interrupts: the virtual timer at 100 Hz, counted by the IRQ handler.
 * The first ticks are awaited with a busy loop, the rest with wfi. */
#include "lib.h"

#define TICKS 6
static volatile uint32_t ticks;
static uint32_t period;

static void on_timer(void)
{
	ticks++;
	uart_puts("tick ");
	put_dec(ticks);
	uart_putc('\n');
	if (ticks < TICKS)
		cntv_tval(period);
	else
		cntv_ctl(0);
}

int main(void)
{
	uart_puts("timer test\n");
	gic_init();
	gic_enable(16 + 11, on_timer);	/* virtual timer PPI */
	period = cntfrq() / 100;
	cntv_tval(period);
	cntv_ctl(1);
	irq_enable();
	while (ticks < 3)
		;	/* busy: interrupts must arrive without wfi */
	while (ticks < TICKS)
		wfi();
	uart_puts("done\n");
	/* Exit through the HLT trap, with the tick count as status. */
	static volatile uint32_t block[2] = {0x20026, 0};
	block[1] = ticks;
	sh_call_hlt(0x20, (uint32_t)block);
	return 1;
}
