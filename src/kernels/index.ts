export { add, mul, swish, sigmoid } from './elementwise.js';
export { matmul, matmulPlan, type Activation, type MatmulOptions } from './matmul.js';
export { reduceAll, reduceLast, type ReduceOp } from './reduce.js';
