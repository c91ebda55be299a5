/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ACPI probe, stage 1: the boot sector SeaBIOS loads at 0x7C00. It reads
 * the rest of the image (sectors 1..__load_sectors) to 0x7E00 with int 13h
 * AH=42h, enters 32-bit protected mode (flat 4 GiB code/data segments,
 * interrupts off) and calls stage2_main() (probe.c or hpet.c), which never returns.
 * Single-threaded: only the boot CPU runs.
 */
        .code16
        .section .boot, "ax"
        .globl  _start
_start:
        cli
        xorw    %ax, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %ss
        movw    $0x7C00, %sp
        ljmp    $0, $1f
1:      movw    $dap, %si
        movb    $0x42, %ah
        int     $0x13
        jc      load_failed
        cli
        lgdt    gdt_pointer
        movl    %cr0, %eax
        orl     $1, %eax
        movl    %eax, %cr0
        ljmpl   $0x08, $protected

load_failed:
        movw    $0x3F8, %dx
        movb    $'!', %al
        outb    %al, %dx
        movw    $0x501, %dx
        movb    $1, %al
        outb    %al, %dx
2:      hlt
        jmp     2b

        .balign 8
gdt:
        .quad   0
        .quad   0x00CF9A000000FFFF      /* 0x08: code, base 0, 4 GiB */
        .quad   0x00CF92000000FFFF      /* 0x10: data, base 0, 4 GiB */
gdt_pointer:
        .word   gdt_pointer - gdt - 1
        .long   gdt
dap:
        .byte   16, 0
        .word   __load_sectors
        .word   0x7E00, 0
        .quad   1

        .code32
protected:
        movw    $0x10, %ax
        movw    %ax, %ds
        movw    %ax, %es
        movw    %ax, %fs
        movw    %ax, %gs
        movw    %ax, %ss
        movl    $0x7C00, %esp
        movl    $__bss_start, %edi
        movl    $__bss_end, %ecx
        subl    %edi, %ecx
        xorl    %eax, %eax
        cld
        rep stosb
        call    stage2_main
3:      hlt
        jmp     3b
