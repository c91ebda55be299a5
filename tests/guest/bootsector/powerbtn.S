/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Amber ACPI power-button probe: a one-sector boot program (loaded by
 * SeaBIOS at 0x7C00) that does what an ACPI OS does with the PIIX4 PM
 * fixed-feature power button, in real mode:
 *  - PMBASE from PCI config 00:01.3 register 0x40 (CF8/CFC);
 *  - ACPI_ENABLE (0xF1) to SMI_CMD 0xB2, then PM1_CNT.SCI_EN must read 1;
 *  - PM1_STS.PWRBTN_STS must read 0; PM1_EN.PWRBTN_EN set (and read back);
 *  - an IRQ 9 handler (slave PIC, vector 0x71), IRQ 9 made level-triggered
 *    in the ELCR (0x4D1 bit 1, as an OS does for the SCI) and unmasked;
 *  - "PWRBTN: READY" on COM1, then it waits with hlt.
 * The handler reads PM1_STS: with PWRBTN_STS it clears it (write 1), checks
 * it reads 0, prints "PWRBTN: POWERBUTTON", EOIs and powers off with
 * PM1_CNT = SLP_TYP 0 | SLP_EN. An interrupt without the status prints
 * "PWRBTN: SPURIOUS". A failed check prints "PWRBTN: FAIL <what>" (pmbase,
 * sci_en, early: a press pending at start, enable, clear) and halts; after
 * SLP_EN it halts with interrupts off (a missed power-off: no exit).
 * The byte after "PBMODE=" is '1'; a test that patches it to '0' gets a
 * guest that never sets PWRBTN_EN ("PWRBTN: READY nobutton") and must
 * never see an interrupt. It keeps running until the host ends it.
 * Built by build.sh-like rules (meson: as --32, ld -Ttext 0x7C00, binary).
 */
        .code16
        .set    COM1, 0x3F8
        .set    PWRBTN, 0x0100
        .set    SLP_EN, 0x2000

        .section .text
        .globl  _start
_start:
        cli
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movw    $0x7C00, %sp
        ljmp    $0, $main
main:
        cld
        movw    $msg_start, %si
        call    print
        /* PMBASE: config address 0x80000000 | 00:01.3 (devfn 0x0B) | 0x40 */
        movl    $0x80000B40, %eax
        movw    $0xCF8, %dx
        outl    %eax, %dx
        movw    $0xCFC, %dx
        inl     %dx, %eax
        andw    $0xFFC0, %ax
        movw    $msg_nobase, %si
        jz      fail
        movw    %ax, pmbase
        /* ACPI_ENABLE through SMI_CMD, then SCI_EN */
        movb    $0xF1, %al
        outb    %al, $0xB2
        movw    pmbase, %dx
        addw    $4, %dx
        inw     %dx, %ax
        testw   $1, %ax
        movw    $msg_scien, %si
        jz      fail
        /* No press pending yet */
        movw    pmbase, %dx
        inw     %dx, %ax
        testw   $PWRBTN, %ax
        movw    $msg_early, %si
        jnz     fail
        /* The IRQ 9 handler: IVT entry 0x71 at 0x1C4 */
        movw    $irq9, 0x71 * 4
        movw    $0, 0x71 * 4 + 2
        /* ELCR: IRQ 9 level-triggered (the SCI is active-high level) */
        movw    $0x4D1, %dx
        inb     %dx, %al
        orb     $0x02, %al
        outb    %al, %dx
        /* Unmask IRQ 9 on the slave and the cascade (IRQ 2) on the master */
        inb     $0xA1, %al
        andb    $0xFD, %al
        outb    %al, $0xA1
        inb     $0x21, %al
        andb    $0xFB, %al
        outb    %al, $0x21
        cmpb    $'1', mode
        jne     nobutton
        /* PWRBTN_EN, read back */
        movw    pmbase, %dx
        addw    $2, %dx
        movw    $PWRBTN, %ax
        outw    %ax, %dx
        inw     %dx, %ax
        testw   $PWRBTN, %ax
        movw    $msg_enable, %si
        jz      fail
        movw    $msg_ready, %si
        call    print
        jmp     wait
nobutton:
        movw    $msg_ready_nb, %si
        call    print
wait:
        sti
1:      hlt
        jmp     1b

/* IRQ 9 (vector 0x71): the SCI. */
irq9:
        pushw   %ax
        pushw   %dx
        pushw   %si
        movw    pmbase, %dx
        inw     %dx, %ax
        testw   $PWRBTN, %ax
        jz      spurious
        movw    $PWRBTN, %ax        /* write-1-to-clear */
        outw    %ax, %dx
        inw     %dx, %ax
        testw   $PWRBTN, %ax
        movw    $msg_clear, %si
        jnz     fail
        movw    $msg_button, %si
        call    print
        movb    $0x20, %al          /* EOI: slave, then master */
        outb    %al, $0xA0
        outb    %al, $0x20
        movw    pmbase, %dx         /* S5: SLP_TYP 0 | SLP_EN (SCI_EN kept) */
        addw    $4, %dx
        movw    $SLP_EN | 1, %ax
        outw    %ax, %dx
        /* The VMM stops the vCPU some instructions after the write (QEMU TCG
           at the end of the block): anything printed here could race the
           power-off, so halt; a missed power-off shows as no exit. */
        cli
2:      hlt
        jmp     2b
spurious:
        movw    $msg_spurious, %si
        call    print
        movb    $0x20, %al
        outb    %al, $0xA0
        outb    %al, $0x20
        popw    %si
        popw    %dx
        popw    %ax
        iret

/* fail: print "PWRBTN: FAIL " and the string at %si, then halt forever. */
fail:
        pushw   %si
        movw    $msg_fail, %si
        call    print
        popw    %si
        call    print
        cli
1:      hlt
        jmp     1b

/* print: NUL-terminated string at %si to COM1. Clobbers %ax, %dx, %si. */
print:
        lodsb
        testb   %al, %al
        jz      2f
        movb    %al, %ah
        movw    $COM1 + 5, %dx
1:      inb     %dx, %al
        testb   $0x20, %al
        jz      1b
        movw    $COM1, %dx
        movb    %ah, %al
        outb    %al, %dx
        jmp     print
2:      ret

pmbase:         .word   0
msg_start:      .asciz  "PWRBTN: start\r\n"
msg_ready:      .asciz  "PWRBTN: READY\r\n"
msg_ready_nb:   .asciz  "PWRBTN: READY nobutton\r\n"
msg_button:     .asciz  "PWRBTN: POWERBUTTON\r\n"
msg_spurious:   .asciz  "PWRBTN: SPURIOUS\r\n"
msg_fail:       .asciz  "PWRBTN: FAIL "
msg_nobase:     .asciz  "pmbase\r\n"
msg_scien:      .asciz  "sci_en\r\n"
msg_early:      .asciz  "early\r\n"
msg_enable:     .asciz  "enable\r\n"
msg_clear:      .asciz  "clear\r\n"
                .ascii  "PBMODE="
mode:           .byte   '1'

        .org    510
        .byte   0x55, 0xAA
