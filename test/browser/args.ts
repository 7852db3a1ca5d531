// Headless Chromium (Debian's) with WebGPU on its software adapter (SwiftShader); no background
// traffic (the machine has no network).
export const WEBGPU_CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];
