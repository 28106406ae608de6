// Loaded with `node --import` by tests that must show a command runs without libtorch: loading dsdnet's addon
// (which links libtorch) throws instead.
const original = process.dlopen.bind(process);
process.dlopen = (module: { exports: unknown }, filename: string, ...rest: unknown[]): void => {
  if (filename.includes('dsdnet_native')) throw new Error(`libtorch was loaded (${filename})`);
  (original as (...args: unknown[]) => void)(module, filename, ...rest);
};
