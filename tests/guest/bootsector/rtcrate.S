/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Amber RTC periodic-interrupt probe: a one-sector boot program (loaded by
 * SeaBIOS at 0x7C00) that hooks IRQ 8 (vector 0x70; the handler reads
 * register C, counts the interrupts that report PF, EOIs both PICs) and,
 * for every rate code R of register A from 0xF (2 Hz) down to 0x3
 * (8192 Hz), sets A = 0x20 | R with PIE in register B, prints "RTC rate=R",
 * waits for the second interrupt, prints '<', waits for 2 s worth of further
 * interrupts (2 * 32768 >> (R - 1)), prints '>' and " done". The host times
 * the two single bytes (a line's timestamp would include its slow polled
 * output). Then PIE off, "RTC: END" and isa-debug-exit 0
 * (port 0x501). Built like ticker.S (as --32, ld -Ttext 0x7C00, binary).
 */
        .code16
        .set    COM1, 0x3F8

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
        movw    $irq8, 0x70 * 4
        movw    $0, 0x70 * 4 + 2
        inb     $0xA1, %al          /* unmask IRQ 8 and the cascade */
        andb    $0xFE, %al
        outb    %al, $0xA1
        inb     $0x21, %al
        andb    $0xFB, %al
        outb    %al, $0x21
        movb    $0x0F, %bl          /* rate code */
next_rate:
        cli
        movb    $0x0A, %al
        outb    %al, $0x70
        movb    %bl, %al
        orb     $0x20, %al
        outb    %al, $0x71
        movb    $0x0B, %al
        outb    %al, $0x70
        inb     $0x71, %al
        orb     $0x40, %al          /* PIE */
        movb    %al, %ah
        movb    $0x0B, %al
        outb    %al, $0x70
        movb    %ah, %al
        outb    %al, $0x71
        movl    $0, count
        /* target = 2 + 2 << (16 - R): timed from the second interrupt, so
           the first one's phase (whenever PIE came on) does not count */
        movb    $17, %cl
        subb    %bl, %cl
        movl    $1, %eax
        shll    %cl, %eax
        addl    $2, %eax
        movl    %eax, target
        movw    $msg_rate, %si
        call    print
        call    print_rate
        sti
1:      hlt
        cmpl    $2, count
        jb      1b
        movb    $'<', %al           /* one byte: the host's timestamp */
        call    putc
2:      hlt
        movl    count, %eax
        cmpl    target, %eax
        jb      2b
        movb    $'>', %al
        call    putc
        movw    $msg_done, %si
        call    print
        decb    %bl
        cmpb    $2, %bl
        jne     next_rate
        cli
        movb    $0x0B, %al          /* PIE off */
        outb    %al, $0x70
        inb     $0x71, %al
        andb    $0xBF, %al
        movb    %al, %ah
        movb    $0x0B, %al
        outb    %al, $0x70
        movb    %ah, %al
        outb    %al, $0x71
        movw    $msg_end, %si
        call    print
        movb    $0, %al
        movw    $0x501, %dx
        outb    %al, %dx
3:      hlt
        jmp     3b

/* IRQ 8: read register C (acknowledges), count PF. */
irq8:
        pushw   %ax
        movb    $0x0C, %al
        outb    %al, $0x70
        inb     $0x71, %al
        testb   $0x40, %al
        jz      1f
        incl    %cs:count
1:      movb    $0x20, %al
        outb    %al, $0xA0
        outb    %al, $0x20
        popw    %ax
        iret

/* print_rate: %bl as one hex digit. Clobbers %ax, %dx. */
print_rate:
        movb    %bl, %al
        addb    $'0', %al
        cmpb    $'9', %al
        jbe     1f
        addb    $'A' - '9' - 1, %al
1:      jmp     putc

/* print: NUL-terminated string at %si to COM1. Clobbers %ax, %dx, %si. */
print:
        lodsb
        testb   %al, %al
        jz      2f
        call    putc
        jmp     print
2:      ret

/* putc: %al to COM1 (polled). Clobbers %ah, %dx. */
putc:
        movb    %al, %ah
        movw    $COM1 + 5, %dx
1:      inb     %dx, %al
        testb   $0x20, %al
        jz      1b
        movw    $COM1, %dx
        movb    %ah, %al
        outb    %al, %dx
        ret

        .balign 4
count:          .long   0
target:         .long   0
msg_rate:       .asciz  "RTC rate="
msg_done:       .asciz  " done\r\n"
msg_end:        .asciz  "RTC: END\r\n"

        .org    510
        .byte   0x55, 0xAA
