/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Amber console ticker: a one-sector boot program that keeps running and
 * prints "AMBERTICK <n>" on COM1 about once a second (every 18 timer ticks
 * of SeaBIOS's IRQ 0, waited for with hlt), for tests that watch a live
 * domain's serial console (virt-manager's text console, virsh console).
 * It never exits. Built by build.sh ticker.S OUT.bin (512 bytes).
 */
        .code16
        .set    COM1, 0x3F8
        .set    TICKS, 18

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
        sti
        movw    $msg_banner, %si
        call    print
        xorw    %di, %di            /* the tick line's number */
tick:
        movw    $msg_tick, %si
        call    print
        movw    %di, %ax
        call    print_decimal
        movw    $msg_nl, %si
        call    print
        incw    %di
        movw    $TICKS, %cx
1:      hlt                         /* woken by IRQ 0 (or any interrupt) */
        loop    1b
        jmp     tick

/* print: NUL-terminated string at %si to COM1. Clobbers %ax, %dx, %si. */
print:
        lodsb
        testb   %al, %al
        jz      2f
        call    putc
        jmp     print
2:      ret

/* putc: %al to COM1 (polled). Clobbers %dx, %ah. */
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

/* print_decimal: %ax as unsigned decimal. Clobbers %ax, %bx, %cx, %dx. */
print_decimal:
        movw    $10, %bx
        xorw    %cx, %cx
1:      xorw    %dx, %dx
        divw    %bx
        pushw   %dx
        incw    %cx
        testw   %ax, %ax
        jnz     1b
2:      popw    %ax
        addb    $'0', %al
        pushw   %cx
        call    putc
        popw    %cx
        loop    2b
        ret

msg_banner:     .asciz "AMBERTICK: console ticker started\r\n"
msg_tick:       .asciz "AMBERTICK "
msg_nl:         .asciz "\r\n"

        .org    510
        .byte   0x55, 0xAA
