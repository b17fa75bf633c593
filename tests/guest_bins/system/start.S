/* Reset and exception entry for the bare-metal test firmware (ARM state). */
	.syntax unified
	.arm
	.section .vectors, "ax"
	.global _start
	.align 5
vectors:
	b	_start		/* 0x00 reset */
	b	undef_entry	/* 0x04 undefined instruction */
	b	svc_entry	/* 0x08 supervisor call */
	b	pabt_entry	/* 0x0c prefetch abort */
	b	dabt_entry	/* 0x10 data abort */
	b	.		/* 0x14 unused */
	b	irq_entry	/* 0x18 IRQ */
	b	.		/* 0x1c FIQ */

_start:
	ldr	r0, =vectors
	mcr	p15, 0, r0, c12, c0, 0	/* VBAR */
	cps	#0x12			/* IRQ mode: its own stack */
	ldr	sp, =__irq_stack_top
	cps	#0x13			/* back to SVC */
	ldr	sp, =__svc_stack_top
	ldr	r0, =__bss_start
	ldr	r1, =__bss_end
	mov	r2, #0
1:	cmp	r0, r1
	strlo	r2, [r0], #4
	blo	1b
	bl	main
	bl	sh_exit_status		/* main's return value is the exit status */
	b	.

irq_entry:
	sub	lr, lr, #4
	push	{r0-r3, r12, lr}
	bl	irq_dispatch
	ldmfd	sp!, {r0-r3, r12, pc}^	/* also restores CPSR from SPSR */

undef_entry:
	mov	r0, #1
	b	fault
svc_entry:
	mov	r0, #2
	b	fault
pabt_entry:
	mov	r0, #3
	b	fault
dabt_entry:
	mov	r0, #4
fault:
	mov	r1, lr
	bl	fault_handler
	b	.
