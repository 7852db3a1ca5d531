// The CPU kernels' WebAssembly modules, built from kernels/wasm/ by build.mjs and bundled as
// bytes (esbuild's `binary` loader; a vite plugin in tests).
declare module '*.wasm' {
  const bytes: Uint8Array<ArrayBuffer>;
  export default bytes;
}
