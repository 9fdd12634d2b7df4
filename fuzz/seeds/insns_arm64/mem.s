// Loads and stores through correctly and wrongly tagged pointers, pairs, exclusives, atomics.
ldr x9, [x0]
ldr x9, [x1]
ldp x9, x10, [x2, #16]
stp x9, x10, [x4, #-16]
// Exclusives through a matching tag: whether a store-exclusive with no monitor armed checks
// the tag is IMPLEMENTATION DEFINED (QEMU does, tagmmu does not: no access is made).
ldxr x11, [x4]
stxr w12, x11, [x4]
ldadd x3, x13, [x6]
swp x3, x13, [x9]
casal x3, x13, [x10]
ld1 {v0.16b, v1.16b}, [x12]
st1 {v0.16b}, [x13]
ldrb w14, [x14, #1023]
sturh w14, [x15, #-3]
prfm pldl1keep, [x16]
ldnp q0, q1, [x17]
