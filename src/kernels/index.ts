export { add, mul, swish, sigmoid } from './elementwise.js';
export { matmul, matmulPlan, type Activation, type MatmulOptions } from './matmul.js';
export { reduceAll, reduceLast, type ReduceOp } from './reduce.js';
export { resizeRgbInto, cubicTaps, cubicAaTaps, type ResizeOptions, type ResizeInput, type ResizeOutput, type Taps } from './resize.js';
export { quantizeDnf, QuantizedImages } from './quantize.js';
