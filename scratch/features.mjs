import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
for (const flags of [[], ['enable-dawn-features=allow_unsafe_apis']]) {
  const gpu = create(flags);
  const adapter = await gpu.requestAdapter();
  console.log(flags, [...adapter.features].join(' '), adapter.info.subgroupMinSize, adapter.info.subgroupMaxSize);
  if (adapter.features.has('chromium-experimental-subgroup-matrix')) {
    const d = await adapter.requestDevice({ requiredFeatures: ['chromium-experimental-subgroup-matrix', 'subgroups'] });
    console.log('configs', JSON.stringify(adapter.info.subgroupMatrixConfigs ?? d.adapterInfo?.subgroupMatrixConfigs));
    d.destroy();
  }
}
