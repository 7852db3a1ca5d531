// The CPU backend refuses the same bad input as WebGPU, with the same errors (test/badInput.ts),
// before any kernel runs.
import { describeBadInput } from '../badInput.js';
import { wasmEngine } from './engine.js';

describeBadInput('WASM', await wasmEngine({ threads: 2 }));
