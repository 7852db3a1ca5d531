// WGSL files are bundled as text (esbuild `text` loader; a vite plugin in tests).
declare module '*.wgsl' {
  const source: string;
  export default source;
}
