// MTE instructions on the harness's tagged pointers (x0: tag 0 at +0, x1: tag 1 at +1 KiB ...).
irg x9, x0
stg x9, [x9]
ldg x10, [x9]
str x2, [x9]
addg x11, x0, #16, #1
st2g x11, [x11]
stgp x2, x3, [x11]
ldr x12, [x11]
subp x13, x11, x0
cmpp x11, x0
gmi x14, x0, x15
ldr x12, [x1]
str x12, [x2, #8]
stzg x1, [x1, #16]!
dc gva, x4
dc gzva, x5
ldgm x6, [x0]
