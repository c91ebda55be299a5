/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Amber PS/2 input probe: a one-sector boot program (loaded by SeaBIOS at
 * 0x7C00, real mode) that hooks IRQ 1 (vector 0x09) and IRQ 12 (vector
 * 0x74, where SeaBIOS puts the slave PIC), sets the i8042 command byte to
 * XLATE | SYS with both interrupts off, enables the aux port (0xA8) and the
 * mouse's reporting (0xD4 0xF4, its 0xFA answer polled), then turns both
 * interrupts on (command byte 0x47), unmasks IRQ 1, 2 and 12, prints
 * "KBD: READY" and halts with interrupts on. Every byte an interrupt
 * brings is printed on COM1 as its own line: "KBD: K=1E" (IRQ 1) or
 * "KBD: M=08" (IRQ 12). Failures print "KBD: FAIL ...". Built like
 * rtcrate.S (as --32, ld -Ttext 0x7C00, binary).
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
        movw    $irq1, 0x09 * 4
        movw    $0, 0x09 * 4 + 2
        movw    $irq12, 0x74 * 4
        movw    $0, 0x74 * 4 + 2
        call    flush
        movb    $0x60, %al          /* command byte: XLATE | SYS, no IRQs */
        call    command
        movb    $0x44, %al
        call    data
        movb    $0xA8, %al          /* aux port on */
        call    command
        movb    $0xD4, %al          /* to the mouse: enable reporting */
        call    command
        movb    $0xF4, %al
        call    data
        call    wait_output
        jc      no_ack
        inb     $0x60, %al
        cmpb    $0xFA, %al
        je      1f
no_ack:
        movw    $msg_noack, %si
        call    print
1:      call    flush
        movb    $0x60, %al          /* both interrupts on */
        call    command
        movb    $0x47, %al
        call    data
        inb     $0x21, %al          /* unmask IRQ 1 and the cascade */
        andb    $0xF9, %al
        outb    %al, $0x21
        inb     $0xA1, %al          /* and IRQ 12 */
        andb    $0xEF, %al
        outb    %al, $0xA1
        movw    $msg_ready, %si
        call    print
        sti
2:      hlt
        jmp     2b

irq1:
        pushw   %ax
        pushw   %dx
        pushw   %si
        pushw   %ds
        xorw    %ax, %ax
        movw    %ax, %ds
        inb     $0x60, %al
        movb    %al, %ah
        movw    $msg_key, %si
        call    report
        movb    $0x20, %al
        outb    %al, $0x20
        popw    %ds
        popw    %si
        popw    %dx
        popw    %ax
        iret

irq12:
        pushw   %ax
        pushw   %dx
        pushw   %si
        pushw   %ds
        xorw    %ax, %ax
        movw    %ax, %ds
        inb     $0x60, %al
        movb    %al, %ah
        movw    $msg_mouse, %si
        call    report
        movb    $0x20, %al
        outb    %al, $0xA0
        outb    %al, $0x20
        popw    %ds
        popw    %si
        popw    %dx
        popw    %ax
        iret

/* report: the string at %si, %ah in hex, CR LF. Clobbers %ax, %dx, %si. */
report:
        pushw   %ax
        call    print
        popw    %ax
        pushw   %ax
        movb    %ah, %al
        shrb    $4, %al
        call    hexdigit
        popw    %ax
        movb    %ah, %al
        andb    $0x0F, %al
        call    hexdigit
        movw    $msg_crlf, %si
        jmp     print

hexdigit:
        addb    $'0', %al
        cmpb    $'9', %al
        jbe     1f
        addb    $'A' - '9' - 1, %al
1:      jmp     putc

/* flush: read the i8042's output buffer until it is empty. */
flush:
        inb     $0x64, %al
        testb   $0x01, %al
        jz      1f
        inb     $0x60, %al
        jmp     flush
1:      ret

/* wait_input: until the i8042 takes a byte (IBF clear). Clobbers %ah. */
wait_input:
        pushw   %ax
1:      inb     $0x64, %al
        testb   $0x02, %al
        jnz     1b
        popw    %ax
        ret

/* command / data: %al to port 0x64 / 0x60. */
command:
        call    wait_input
        outb    %al, $0x64
        ret
data:
        call    wait_input
        outb    %al, $0x60
        ret

/* wait_output: OBF within about 1M polls; carry set on timeout. */
wait_output:
        pushl   %ecx
        movl    $0x100000, %ecx
1:      inb     $0x64, %al
        testb   $0x01, %al
        jnz     2f
        decl    %ecx
        jnz     1b
        popl    %ecx
        stc
        ret
2:      popl    %ecx
        clc
        ret

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
        pushw   %ax
        movb    %al, %ah
        movw    $COM1 + 5, %dx
1:      inb     %dx, %al
        testb   $0x20, %al
        jz      1b
        movw    $COM1, %dx
        movb    %ah, %al
        outb    %al, %dx
        popw    %ax
        ret

msg_ready:      .asciz  "KBD: READY\r\n"
msg_noack:      .asciz  "KBD: FAIL no mouse ack\r\n"
msg_key:        .asciz  "KBD: K="
msg_mouse:      .asciz  "KBD: M="
msg_crlf:       .asciz  "\r\n"

        .org    510
        .byte   0x55, 0xAA
