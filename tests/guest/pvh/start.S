/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PVH entry for the Amber probe guest.
 *
 * The Xen PVH boot ABI: the loader finds XEN_ELFNOTE_PHYS32_ENTRY (type 18)
 * in a PT_NOTE segment and jumps to that physical address in 32-bit
 * protected mode with paging off, %ebx pointing at struct hvm_start_info.
 * We load our own flat GDT (the loader's may live in memory we overwrite),
 * zero .bss, set up a stack and call guest_main(start_info).
 */
        .section .note.Xen, "a"
        .p2align 2
        .long   4               /* namesz: "Xen\0" */
        .long   4               /* descsz: 32-bit entry address */
        .long   18              /* XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz  "Xen"
        .p2align 2
        .long   pvh_entry

        .section .text.entry, "ax"
        .code32
        .globl  pvh_entry
pvh_entry:
        cli
        cld
        lgdt    gdt_descriptor
        ljmp    $0x08, $reload_segments
reload_segments:
        movl    $0x10, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        movl    %eax, %fs
        movl    %eax, %gs
        movl    $stack_top, %esp
        /* Zero .bss with a plain loop (no rep-string instructions). */
        movl    $__bss_start, %edi
        movl    $__bss_end, %ecx
1:      cmpl    %ecx, %edi
        jae     2f
        movl    $0, (%edi)
        addl    $4, %edi
        jmp     1b
2:      xorl    %ebp, %ebp
        pushl   %ebx
        call    guest_main
3:      cli
        hlt
        jmp     3b

/*
 * AP start-up (smp.c): copied to a page below 1 MiB and entered by SIPI in
 * real mode with CS = page >> 4, IP = 0. Loads the flat GDT above, enters
 * protected mode, takes a stack by ticket and calls ap_main(ticket).
 */
        .section .text
        .code16
        .globl  ap_trampoline, ap_trampoline_end
ap_trampoline:
        cli
        cld
        movw    $(ap_gdt_descriptor - ap_trampoline), %bx
        lgdtl   %cs:(%bx)
        movl    %cr0, %eax
        orl     $1, %eax
        movl    %eax, %cr0
        ljmpl   $0x08, $ap_entry32
        .p2align 2
ap_gdt_descriptor:
        .word   gdt_end - gdt - 1
        .long   gdt
ap_trampoline_end:

        .code32
ap_entry32:
        movl    $0x10, %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %ss
        movl    %eax, %fs
        movl    %eax, %gs
        movl    $1, %eax
        lock xaddl %eax, ap_next
        leal    1(%eax), %ebx
        shll    $12, %ebx
        leal    ap_stacks(%ebx), %esp
        xorl    %ebp, %ebp
        pushl   %eax
        call    ap_main
4:      cli
        hlt
        jmp     4b

        .section .rodata
        .p2align 3
gdt:
        .quad   0
        .quad   0x00cf9a000000ffff      /* 0x08: flat 32-bit code */
        .quad   0x00cf92000000ffff      /* 0x10: flat 32-bit data */
gdt_end:
gdt_descriptor:
        .word   gdt_end - gdt - 1
        .long   gdt

        .section .stack, "aw", @nobits
        .p2align 4
        .skip   65536
stack_top:
        .section .note.GNU-stack, "", @progbits
