// System-ish instructions: a syscall (x8 starts as getpid), TLS, TCO, flags, traps.
svc #0
mrs x9, tpidr_el0
msr tco, #1
ldr x9, [x1]
msr tco, #0
mrs x10, nzcv
msr nzcv, x10
mrs x11, midr_el1
mrs x12, dczid_el0
mrs x13, gcr_el1
brk #1
hlt #0
udf #1
udiv x14, x0, xzr
fdiv d0, d1, d2
yield
wfe
isb
dmb ish
b 1f
udf #2
1: cbz xzr, 2f
udf #3
2: adr x15, 3f
br x15
udf #4
3: nop
