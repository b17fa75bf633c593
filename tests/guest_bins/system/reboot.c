/* Reboot through PSCI SYSTEM_RESET, three times, then a semihosting exit.
 *
 * The boot count lives in RAM outside the image: a reset reloads the image
 * (so `loaded` reads 7 on every boot) but does not clear RAM (QEMU's
 * machine reset reloads its ROM blobs and leaves RAM alone).  Each boot
 * turns the MMU on, and the next must start with it off again.
 */
#include "lib.h"

#define MARK 0x47000000u
#define MAGIC 0x52425430u /* "RBT0" */
#define PSCI_SYSTEM_RESET 0x84000009u

static volatile uint32_t loaded = 7;

static uint32_t sctlr(void)
{
	uint32_t v;
	__asm__ volatile("mrc p15, 0, %0, c1, c0, 0" : "=r"(v));
	return v;
}

static void psci_system_reset(void)
{
	register uint32_t r0 __asm__("r0") = PSCI_SYSTEM_RESET;
	__asm__ volatile(".arch_extension virt\n\thvc #0" : "+r"(r0) :: "memory");
}

int main(void)
{
	uint32_t mmu_at_entry = sctlr() & 1u;
	if (REG(MARK) != MAGIC) {
		REG(MARK) = MAGIC;
		REG(MARK + 4) = 0;
	}
	uint32_t boot = ++REG(MARK + 4);
	mmu_enable();
	uart_puts("boot ");
	put_dec(boot);
	uart_puts(": mmu at entry ");
	uart_puts(mmu_at_entry ? "on" : "off");
	uart_puts(", loaded ");
	put_dec(loaded);
	uart_puts("\n");
	loaded = 8;
	if (boot < 3) {
		psci_system_reset();
		uart_puts("SYSTEM_RESET returned\n");
		sh_exit_status(100);
	}
	REG(MARK) = 0;
	sh_exit_status(boot);
}
